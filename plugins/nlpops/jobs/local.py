"""Run a local job (Spark ETL, training entry, …) as a child process, the way a remote
service would run it: own process group, log lines streamed as they come, a hard
timeout, and a kill that takes the whole process tree down (``on_kill``)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


def _die_with_parent() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child get SIGKILL when the task process dies (Linux).

    The job runs in its own session so that ``kill()`` reaches its whole tree; but then a
    task process killed with SIGKILL (OOM killer, lost worker) never runs ``on_kill`` and the
    job would live on as an orphan, still writing, racing the retry. ``PR_SET_PDEATHSIG``
    ties the child's life to the task's. Spark's JVM exits on its own when the Python
    driver dies (it watches its stdin), so the whole tree goes.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork: nothing to import in the child
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


_PR_SET_PDEATHSIG = 1


class LocalJobError(RuntimeError):
    """The local job exited non-zero or timed out; the message has the job name and the log tail."""


@dataclass
class LocalJob:
    """One child process; ``run()`` blocks until it ends, ``kill()`` may be called from another thread."""

    name: str
    cmd: Sequence[str]
    env: Mapping[str, str] | None = None
    cwd: str | None = None
    timeout_seconds: float | None = None
    logger: logging.Logger = field(default_factory=lambda: log)
    tail_lines: int = 40
    _proc: subprocess.Popen[str] | None = field(default=None, init=False, repr=False)
    _killed: bool = field(default=False, init=False, repr=False)

    def run(self) -> list[str]:
        """Run to completion; return the last ``tail_lines`` log lines; raise LocalJobError on failure."""
        start = time.monotonic()
        self.logger.info("[%s] starting: %s", self.name, " ".join(self.cmd[:4]) + (" …" if len(self.cmd) > 4 else ""))
        self._proc = subprocess.Popen(
            list(self.cmd),
            env=dict(self.env) if self.env is not None else None,
            cwd=self.cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            bufsize=1,
            start_new_session=True,  # own process group: kill() reaches Spark's JVM too
            preexec_fn=_die_with_parent(),
        )
        timer = None
        if self.timeout_seconds:
            timer = threading.Timer(self.timeout_seconds, self._timeout)
            timer.daemon = True
            timer.start()
        tail: list[str] = []
        assert self._proc.stdout is not None
        try:
            for line in self._proc.stdout:
                line = line.rstrip("\n")
                self.logger.info("[%s] %s", self.name, line)
                tail.append(line)
                if len(tail) > self.tail_lines:
                    tail.pop(0)
            code = self._proc.wait()
        finally:
            if timer:
                timer.cancel()
        elapsed = time.monotonic() - start
        if self._killed:
            raise LocalJobError(f"job {self.name} was stopped after {elapsed:.0f}s (timeout or kill)")
        if code != 0:
            raise LocalJobError(
                f"job {self.name} failed with exit code {code} after {elapsed:.0f}s; last lines:\n"
                + "\n".join(tail[-15:])
            )
        self.logger.info("[%s] finished in %.1fs", self.name, elapsed)
        return tail

    def _timeout(self) -> None:
        self.logger.error("[%s] timed out after %ss: stopping it", self.name, self.timeout_seconds)
        self.kill()

    def kill(self) -> None:
        """Terminate the job's whole process group (SIGTERM, then SIGKILL after 10 s)."""
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        self._killed = True
        try:
            pgid = os.getpgid(proc.pid)
            os.killpg(pgid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
