"""The service player: moto records AWS jobs, the player does their work.

moto accepts ``StartJobRun`` / ``CreateTrainingJob`` / ``CreateTransformJob`` and says
they finished at once without running anything. The ThreadedMotoServer runs in the
test process, so its backends are ordinary objects here: a player patches the moto
backend method that creates a job so the job starts ``RUNNING``, runs the project's
real local code on the job's inputs in a worker thread (inputs downloaded from moto S3
to a temporary folder, outputs uploaded where the real service writes them), then sets
``SUCCEEDED``/``Completed`` or ``FAILED``/``Failed`` with the error message, so the
operators' waiters and triggers in the ``airflow dags test`` subprocess see the real
status sequence. ``hold()`` keeps new jobs running until released (retry tests);
``fail_next(message)`` makes the next job fail.

:class:`RequestRecorder` records every request the DAGs make (service, operation,
parameters as botocore parses them) and validates the parameters against botocore's
service model. The players' own calls use :data:`PLAYER_ACCESS_KEY` and are not recorded.

Writing a player (part B/C): subclass :class:`ServicePlayer`, set ``name``, implement
:meth:`ServicePlayer.install` with :meth:`ServicePlayer.patch` around the moto method that
creates the job, call :meth:`ServicePlayer.start` with a ``work(job)`` function that
returns normally (success) or raises :class:`JobFailed`, and a ``set_state(job, state,
message)`` that writes the status into the moto object. See ``players/glue.py``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("tests.aws.players")

#: Access key of the players' and the tests' own boto3 clients (20 chars so moto parses it).
PLAYER_ACCESS_KEY = "AKIANLPOPSPLAYER0000"
PLAYER_SECRET_KEY = "player-secret"  # a dummy key for the local moto server

#: Job states a player drives (mapped by each player to the service's spelling).
RUNNING, SUCCEEDED, FAILED, STOPPED = "RUNNING", "SUCCEEDED", "FAILED", "STOPPED"


class JobFailed(Exception):
    """Raised by a player's work function: the job ends failed with this message as its reason."""


# -- request recording -------------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One request to the moto server: who sent it, which operation, with which parameters."""

    service: str
    operation: str
    params: dict[str, Any] | None
    access_key: str
    problems: str = ""  # botocore ParamValidator report; empty = valid


class RequestRecorder:
    """Record (and validate) every request moto dispatches through ``BaseResponse.call_action``.

    S3 object traffic is dispatched elsewhere in moto and is not recorded: assert S3 by
    the objects it leaves. Parameters are parsed with botocore's protocol parsers (the
    same ones moto uses), so they read like the boto3 call that made them.
    """

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        #: access keys of the harness and the players (not the DAGs): their requests are not recorded
        self.skip_keys: set[str] = {PLAYER_ACCESS_KEY}
        self._lock = threading.Lock()
        self._original: Any = None

    def install(self) -> None:
        from moto.core.responses import BaseResponse

        if self._original is not None:
            return
        original = BaseResponse.call_action
        recorder = self

        def call_action(response: Any) -> Any:
            with contextlib.suppress(Exception):  # recording must never break the server
                recorder._record(response)
            return original(response)

        self._original = original
        BaseResponse.call_action = call_action  # type: ignore[method-assign]

    def uninstall(self) -> None:
        from moto.core.responses import BaseResponse

        if self._original is not None:
            BaseResponse.call_action = self._original  # type: ignore[method-assign]
            self._original = None

    def _record(self, response: Any) -> None:
        access_key = ""
        with contextlib.suppress(Exception):
            access_key = response.get_access_key()
        if access_key in self.skip_keys:
            return
        service = response.boto3_service_name
        operation = response._get_action()
        params: dict[str, Any] | None = None
        problems = ""
        try:
            response.parse_parameters(response.normalized_request)
            params = _plain(dict(response.params))
        except Exception as exc:  # an operation botocore does not know is itself a finding
            problems = f"cannot parse {service}.{operation}: {type(exc).__name__}: {exc}"
        if params is not None:
            problems = validate_params(service, operation, params)
        with self._lock:
            self.requests.append(RecordedRequest(service, operation, params, access_key, problems))

    def calls(self, service: str, operation: str | None = None) -> list[RecordedRequest]:
        """The recorded requests to ``service`` (boto3 name, e.g. ``glue``), optionally one operation."""
        with self._lock:
            return [
                r for r in self.requests if r.service == service and (operation is None or r.operation == operation)
            ]

    def params(self, service: str, operation: str) -> list[dict[str, Any]]:
        """The parameters of every ``service.operation`` request, in order."""
        return [r.params or {} for r in self.calls(service, operation)]

    def invalid(self) -> list[RecordedRequest]:
        """Requests botocore's service model rejects (should be none)."""
        with self._lock:
            return [r for r in self.requests if r.problems]

    def assert_valid(self) -> None:
        """Fail with the botocore report of every invalid request."""
        bad = self.invalid()
        assert not bad, "requests that botocore's service model rejects:\n" + "\n".join(
            f"{r.service}.{r.operation}: {r.problems}" for r in bad
        )

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()


def validate_params(service: str, operation: str, params: dict[str, Any]) -> str:
    """botocore's ParamValidator report of ``params`` for ``service.operation`` ('' when valid)."""
    import botocore.session
    from botocore.validate import ParamValidator

    model = _service_model(botocore.session, service)
    op = model.operation_model(operation)
    if op.input_shape is None:
        return "" if not params else f"{operation} takes no parameters, got {sorted(params)}"
    report = ParamValidator().validate(params, op.input_shape)
    return report.generate_report() if report.has_errors() else ""


_models: dict[str, Any] = {}


def _service_model(botocore_session_mod: Any, service: str) -> Any:
    if service not in _models:
        _models[service] = botocore_session_mod.get_session().get_service_model(service)
    return _models[service]


def _plain(value: Any) -> Any:
    """Parsed parameters as plain dicts/lists (moto's parser may use its own mapping types)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


# -- S3 <-> local folder --------------------------------------------------------------------------


class S3Mirror:
    """Map ``s3://bucket/key`` URIs to a local folder and back, so local code runs on "S3" data.

    ``local_uri(s3)`` is ``file://<root>/<bucket>/<key>``; ``download(prefix)`` copies
    every object under an S3 prefix; ``upload(prefix)`` makes the S3 prefix equal to the
    local folder (objects removed locally are deleted, ``_manifest.json`` is written last,
    JSON files have the local URIs rewritten to ``s3://``).
    """

    MANIFEST = "_manifest.json"

    def __init__(self, s3: Any, root: Path) -> None:
        self.s3 = s3
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    @staticmethod
    def split(uri: str) -> tuple[str, str]:
        bucket, _, key = uri[len("s3://") :].partition("/")
        return bucket, key

    def local_path(self, uri: str) -> Path:
        bucket, key = self.split(uri)
        return self.root / bucket / key

    def local_uri(self, uri: str) -> str:
        # Not Path.as_uri(): it percent-encodes '=' (run=<key>), and fsspec takes the path as is.
        return f"file://{self.local_path(uri)}"

    def to_s3_text(self, text: str) -> str:
        """Rewrite local mirror URIs/paths in ``text`` back to ``s3://`` URIs."""
        return text.replace(f"file://{self.root}/", "s3://").replace(f"{self.root}/", "s3://")

    def localize(self, value: str) -> str:
        """``value`` with every (comma-separated) ``s3://`` URI replaced by its mirror URI."""
        if "s3://" not in value:
            return value
        return ",".join(self.local_uri(v.strip()) if v.strip().startswith("s3://") else v for v in value.split(","))

    def download(self, uri: str) -> int:
        """Copy every object under ``uri`` (a key or a prefix) to the mirror; returns the count."""
        bucket, key = self.split(uri.rstrip("/"))
        count = 0
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
            for obj in page.get("Contents", []):
                rel = obj["Key"]
                if rel != key and not rel.startswith(key + "/"):
                    continue
                target = self.root / bucket / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                self.s3.download_file(bucket, rel, str(target))
                count += 1
        return count

    def upload(self, uri: str) -> list[str]:
        """Make S3 under ``uri`` equal to the mirror folder; returns the keys written (manifest last)."""
        bucket, key = self.split(uri.rstrip("/"))
        base = self.root / bucket / key
        files = sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else []
        wanted = {f"{key}/{p.relative_to(base).as_posix()}": p for p in files}
        existing: list[str] = []
        for page in self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key + "/"):
            existing += [o["Key"] for o in page.get("Contents", [])]
        for stale in sorted(set(existing) - set(wanted)):
            self.s3.delete_object(Bucket=bucket, Key=stale)
        ordered = sorted(wanted, key=lambda k: (k.endswith(self.MANIFEST), k))
        for k in ordered:
            path = wanted[k]
            body = path.read_bytes()
            if path.suffix == ".json":
                body = self.to_s3_text(body.decode("utf-8")).encode("utf-8")
            self.s3.put_object(Bucket=bucket, Key=k, Body=body)
        return ordered


# -- running local code ----------------------------------------------------------------------------


@dataclass
class LocalRun:
    returncode: int
    output: str


def run_local(
    cmd: list[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 900,
    stop: threading.Event | None = None,
) -> LocalRun:
    """Run ``cmd`` (the project's local runner, e.g. a Glue script) and capture its output.

    ``stop`` set while it runs kills the process (a StopJobRun while the job works).
    """
    import tempfile
    import time

    full_env = dict(os.environ, PYSPARK_PYTHON=sys.executable, **(env or {}))
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, env=full_env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        while proc.poll() is None:
            if (stop is not None and stop.is_set()) or time.monotonic() > deadline:
                proc.kill()
            time.sleep(0.1)
        out.seek(0)
        return LocalRun(proc.returncode, out.read())


def last_error_line(output: str) -> str:
    """The most telling line of a failed job's output (its ERROR line, else the last line)."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln for ln in lines if " ERROR " in ln or ln.startswith(("Error", "Exception"))]
    return (errors or lines or ["(no output)"])[-1][:2000]


# -- the player base ---------------------------------------------------------------------------------


@dataclass
class PlayedJob:
    """One job the player took over: the moto object, its name and what happened."""

    key: str
    moto_obj: Any
    state: str = RUNNING
    message: str = ""
    output: str = ""
    stop: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    info: dict[str, Any] = field(default_factory=dict)


class ServicePlayer:
    """Base of the players: patches, the worker thread, hold/fail switches, the jobs it played.

    Subclasses set :attr:`name` and implement :meth:`install` (patch moto with
    :meth:`patch`; call :meth:`start` when moto creates a job) and :meth:`set_state`.
    """

    name = "base"

    def __init__(self, harness: Any) -> None:
        self.harness = harness
        self.jobs: dict[str, PlayedJob] = {}
        self._patches: list[tuple[Any, str, Any, bool]] = []
        self._held = threading.Event()
        self._release = threading.Event()
        self._fail_next: str | None = None
        self._lock = threading.Lock()

    # -- to implement ----------------------------------------------------------------------------

    def install(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def set_state(self, job: PlayedJob, state: str, message: str = "") -> None:  # pragma: no cover
        """Write ``state`` (RUNNING/SUCCEEDED/FAILED/STOPPED) and the failure ``message`` into the moto object."""
        raise NotImplementedError

    # -- helpers for subclasses --------------------------------------------------------------------

    def client_as(self, role_arn: str, service: str) -> Any:
        """A boto3 client acting as the job's role (IAM-enforced harness), else the harness's own."""
        role_client = getattr(self.harness, "role_client", None)
        if role_client is not None and role_arn.startswith("arn:aws:iam::"):
            return role_client(role_arn, service)
        return self.harness.player_client(service)

    def patch(self, owner: Any, attr: str, replacement: Any) -> None:
        """Set ``owner.attr`` (a moto class) to ``replacement`` until :meth:`uninstall`."""
        had = attr in vars(owner)
        self._patches.append((owner, attr, vars(owner).get(attr), had))
        setattr(owner, attr, replacement)

    def uninstall(self) -> None:
        """Undo every patch (reverse order) and release held jobs."""
        self._release.set()
        for owner, attr, original, had in reversed(self._patches):
            if had:
                setattr(owner, attr, original)
            else:
                delattr(owner, attr)
        self._patches.clear()

    def start(self, key: str, moto_obj: Any, work: Callable[[PlayedJob], None]) -> PlayedJob:
        """Take over a job moto just created: RUNNING now, ``work(job)`` in a thread, then the end state."""
        job = PlayedJob(key=key, moto_obj=moto_obj)
        with self._lock:
            self.jobs[key] = job
            fail = self._fail_next
            self._fail_next = None
        self.set_state(job, RUNNING)
        thread = threading.Thread(
            target=self._run, args=(job, work, fail), name=f"player-{self.name}-{key}", daemon=True
        )
        thread.start()
        return job

    def stop(self, job: PlayedJob) -> None:
        """What the service does on a stop request: the job ends STOPPED (the work is abandoned)."""
        job.stop.set()

    def _run(self, job: PlayedJob, work: Callable[[PlayedJob], None], fail: str | None) -> None:
        try:
            if self._held.is_set():
                while not (self._release.is_set() or job.stop.is_set()):
                    self._release.wait(0.1)
            if job.stop.is_set():
                self._finish(job, STOPPED, "stopped by request")
                return
            if fail is not None:
                raise JobFailed(fail)
            work(job)
            self._finish(job, STOPPED if job.stop.is_set() else SUCCEEDED, "")
        except JobFailed as exc:
            self._finish(job, FAILED, str(exc))
        except Exception as exc:  # a bug in the player or the job: fail the job, keep the trace
            log.error("player %s: job %s crashed:\n%s", self.name, job.key, traceback.format_exc())
            self._finish(job, FAILED, f"{type(exc).__name__}: {exc}")

    def _finish(self, job: PlayedJob, state: str, message: str) -> None:
        job.state, job.message = state, message
        self.set_state(job, state, message)
        job.done.set()

    # -- switches for tests ------------------------------------------------------------------------

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        """Within the block, new jobs stay RUNNING (until the block ends or they are stopped)."""
        self._release.clear()
        self._held.set()
        try:
            yield
        finally:
            self._held.clear()
            self._release.set()

    def fail_next(self, message: str) -> None:
        """The next job this player starts ends FAILED with ``message`` (without running)."""
        with self._lock:
            self._fail_next = message

    def wait_all(self, timeout: float = 600) -> None:
        """Block until every job played so far has ended."""
        for job in list(self.jobs.values()):
            assert job.done.wait(timeout), f"player {self.name}: job {job.key} still running after {timeout}s"

    def running(self) -> list[PlayedJob]:
        return [j for j in self.jobs.values() if not j.done.is_set()]


def json_dumps(obj: Any) -> str:
    return json.dumps(obj, default=str, sort_keys=True)


__all__ = [
    "FAILED",
    "PLAYER_ACCESS_KEY",
    "PLAYER_SECRET_KEY",
    "RUNNING",
    "STOPPED",
    "SUCCEEDED",
    "JobFailed",
    "LocalRun",
    "PlayedJob",
    "RecordedRequest",
    "RequestRecorder",
    "S3Mirror",
    "ServicePlayer",
    "last_error_line",
    "run_local",
    "validate_params",
]
