"""`make up` / `make down`: the local Airflow 3 web UI with the project's DAGs.

`up` starts the components `airflow standalone` would (api-server, scheduler, dag-processor,
triggerer; LocalExecutor) under its own leader process (:func:`launch`) in its own session on
http://127.0.0.1:8080 (``NLPOPS_UI_PORT``). Every listener is bound to 127.0.0.1: standalone's
scheduler and triggerer serve their logs on all interfaces (Airflow hard-codes the host), so
they run with ``--skip-serve-logs`` and the two log servers are started here on loopback, on the
next two ports (two stacks on two UI ports do not collide). `up` waits until
every component is healthy and every DAG of the enabled profiles is listed, unpauses the DAGs
``NLPOPS_UNPAUSE`` selects, and prints the generated login. `down` stops exactly the
processes `up` started: the recorded session and every descendant of its leader (task
subprocesses that opened a session of their own, such as Spark's JVM, included).

The functions are reused by the browser test (tests/ui/), which starts its own stack on a
free port in a temporary Airflow home.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from include.settings import get_settings
from nlpops.runtime import airflow_bin, airflow_environ, ensure_airflow_home

HOST = "127.0.0.1"
DEFAULT_PORT = 8080
DAG_KINDS = ("ingest", "train", "batch_inference", "drift", "categories")
#: the admin user of Airflow's SimpleAuthManager; the api-server generates its password once per home
ADMIN = "admin"
PID_FILE = "stack.pid"
LOG_FILE = "stack.log"


class StackError(RuntimeError):
    """The stack could not be started, reached or stopped; the message says where to look."""


@dataclass
class Stack:
    """A running stack: its leader process, address, files and login."""

    pid: int
    url: str
    home: Path
    log: Path
    username: str
    password: str
    _token: str = field(default="", repr=False)

    def token(self) -> str:
        """A JWT for the REST API, obtained with the stack's login like the UI does."""
        if not self._token:
            body = json.dumps({"username": self.username, "password": self.password}).encode()
            req = urllib.request.Request(  # noqa: S310 - loopback only
                f"{self.url}/auth/token", data=body, headers={"Content-Type": "application/json"}, method="POST"
            )
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                self._token = json.loads(resp.read())["access_token"]
        return self._token

    def api(self, method: str, path: str, body: dict[str, Any] | None = None, timeout: float = 30) -> Any:
        """Call the REST API (``/api/v2/...``) with the stack's token; return the decoded JSON."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(  # noqa: S310 - loopback only
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            raw = resp.read()
        return json.loads(raw) if raw else None


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def log_server_ports(port: int) -> tuple[int, int]:
    """The worker's and the triggerer's log-server ports of the stack whose UI is on ``port``.

    Airflow's defaults (8793, 8794) are fixed: a second stack's components would fail to bind.
    """
    return port + 1, port + 2


def stack_environ(airflow_home: str | Path | None = None, *, port: int = DEFAULT_PORT, **extra: str) -> dict[str, str]:
    """Environment of the stack: the project's Airflow environment plus the API address and login."""
    url = f"http://{HOST}:{port}"
    worker_logs, trigger_logs = log_server_ports(port)
    settings = {
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(port),
        # the api-server reads a running task's log from these (this machine: same home, local files first)
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(worker_logs),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(trigger_logs),
        # also the base of the execution API the task processes call: must match the port
        "AIRFLOW__API__BASE_URL": url,
        # the one user of the stack; the api-server generates its password on first start
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        # LocalExecutor starts one worker process per slot (default 32): a laptop needs a few
        "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", "4"),
        # On SQLite and a busy laptop the api-server can take more than the default 5 s to answer
        # a task's "start" call; the task would then fail before it ran and wait for a retry.
        "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": os.environ.get("AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT", "60"),
        # a real scheduler and triggerer run here: the train DAGs keep their DeadlineAlert
        "NLPOPS_DEADLINE_ALERTS": "true",
        # the components start further `airflow …` subprocesses: the venv must be on PATH
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    return airflow_environ(airflow_home, **{**settings, **extra})


def expected_dag_ids(env: dict[str, str]) -> list[str]:
    """The DAG ids the DAG files build in ``env``: four per enabled profile."""
    from include.profiles import enabled_profiles
    from include.settings import load_settings

    return sorted(f"{name}_{kind}" for name in enabled_profiles(load_settings(env)) for kind in DAG_KINDS)


def unpause_selection(env: dict[str, str], dag_ids: list[str]) -> list[str]:
    """The DAGs ``NLPOPS_UNPAUSE`` selects: ``all``, or profile names and/or DAG ids, comma-separated.

    Empty (the default) unpauses nothing: the nightly train DAG would otherwise start a run at
    once (cron timetable, no catchup) on an empty lake. The UI's trigger form can unpause a DAG.
    """
    raw = env.get("NLPOPS_UNPAUSE", "").strip()
    if raw.lower() in {"", "none"}:
        return []
    if raw.lower() == "all":
        return list(dag_ids)
    chosen: list[str] = []
    for item in (p.strip() for p in raw.split(",") if p.strip()):
        matches = [d for d in dag_ids if d == item or d in {f"{item}_{kind}" for kind in DAG_KINDS}]
        if not matches:
            raise StackError(
                f"NLPOPS_UNPAUSE={raw!r}: {item!r} is neither an enabled profile nor a DAG id; DAGs are {dag_ids}"
            )
        chosen += [d for d in matches if d not in chosen]
    return chosen


def _is_stack_leader(pid: int) -> bool:
    """Whether ``pid`` is a live stack leader (`stack.py launch`; a pid file can outlive a reboot; pids are reused)."""
    import psutil

    try:
        proc = psutil.Process(pid)
        args = proc.cmdline()
        alive = proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False
    return alive and args[-1:] == ["launch"] and any(Path(a).name == "stack.py" for a in args)


def _health(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/monitor/health", timeout=5) as resp:  # noqa: S310 - loopback only
            return dict(json.loads(resp.read()))
    except (OSError, ValueError):
        return None


def _login(home: Path) -> tuple[str, str]:
    """The generated admin password (the api-server writes it once per Airflow home)."""
    passwords = home / "simple_auth_manager_passwords.json.generated"
    if not passwords.exists():
        raise StackError(f"no generated password in {passwords}")
    users = json.loads(passwords.read_text())
    return ADMIN, str(users[ADMIN])


def start(env: dict[str, str], *, timeout: float = 300) -> Stack:
    """Start the stack (:func:`launch`) in ``env`` and wait until all its components are healthy.

    Records ``{"pid", "url"}`` in ``$AIRFLOW_HOME/stack.pid`` (refuses to start a second stack in
    the same home); on failure stops what it started and raises :class:`StackError`.
    """
    import subprocess

    home = Path(env["AIRFLOW_HOME"])
    url = env["AIRFLOW__API__BASE_URL"]
    pid_file = home / PID_FILE
    if pid_file.exists():
        recorded = json.loads(pid_file.read_text())
        if _is_stack_leader(int(recorded["pid"])):
            raise StackError(f"a stack is already up in {home} (pid {recorded['pid']}, {recorded['url']}): stop it")
        pid_file.unlink()  # stale: the machine restarted or the leader was killed
    ensure_airflow_home(env)
    log_path = home / LOG_FILE
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, str(Path(__file__).resolve()), "launch"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    pid_file.write_text(json.dumps({"pid": proc.pid, "url": url}))
    deadline = time.monotonic() + timeout
    health: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stop_session(proc.pid)
            pid_file.unlink(missing_ok=True)
            raise StackError(f"the stack's leader exited ({proc.returncode}); see {log_path}")
        health = _health(url)
        components = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        if health and all((health.get(c) or {}).get("status") == "healthy" for c in components):
            username, password = _login(home)
            return Stack(pid=proc.pid, url=url, home=home, log=log_path, username=username, password=password)
        time.sleep(2)
    stop_session(proc.pid)
    pid_file.unlink(missing_ok=True)
    raise StackError(f"the stack was not healthy within {timeout:.0f} s (last health: {health}); see {log_path}")


def components(env: dict[str, str]) -> dict[str, list[str]]:
    """The stack's processes (name -> command), every listener on :data:`HOST`."""
    airflow = airflow_bin()
    logs = [sys.executable, "-m", "uvicorn", "airflow.utils.serve_logs.log_server:get_app", "--factory"]
    logs += ["--host", HOST, "--no-access-log", "--port"]
    return {
        "api-server": [airflow, "api-server", "--host", HOST, "--port", env["AIRFLOW__API__PORT"]],
        "scheduler": [airflow, "scheduler", "--skip-serve-logs"],
        "dag-processor": [airflow, "dag-processor"],
        "triggerer": [airflow, "triggerer", "--skip-serve-logs"],
        "worker-log-server": [*logs, env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"]],
        "trigger-log-server": [*logs, env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"]],
    }


def launch() -> int:
    """The stack's leader (``stack.py launch``, in the environment :func:`start` gives it).

    Starts every component of :func:`components`; when one exits, or on SIGTERM, stops the others.
    """
    import subprocess

    env = dict(os.environ)
    procs = {name: subprocess.Popen(cmd, env=env) for name, cmd in components(env).items()}
    stopping = False

    def stop(*_: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    code = 0
    while not stopping:
        exited = {n: p.returncode for n, p in procs.items() if p.poll() is not None}
        if exited:
            print(f"stack: {exited} exited; stopping the others", flush=True)
            code = 1
            break
        time.sleep(1)
    for p in procs.values():
        if p.poll() is None:
            p.terminate()
    for p in procs.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=30)
    return code


def wait_for_dags(stack: Stack, dag_ids: list[str], *, timeout: float = 300) -> dict[str, dict[str, Any]]:
    """Wait until every DAG in ``dag_ids`` is listed by the API; return them by id.

    Raises :class:`StackError` naming the missing DAGs and the import errors when they do not
    all appear in time.
    """
    deadline = time.monotonic() + timeout
    listed: dict[str, dict[str, Any]] = {}
    while True:
        dags = stack.api("GET", "/api/v2/dags?limit=1000")["dags"]
        listed = {d["dag_id"]: d for d in dags}
        missing = [d for d in dag_ids if d not in listed]
        if not missing:
            return listed
        if time.monotonic() > deadline:
            errors = stack.api("GET", "/api/v2/importErrors")["import_errors"]
            detail = "; ".join(f"{e['filename']}: {e['stack_trace'].strip().splitlines()[-1]}" for e in errors)
            raise StackError(f"DAGs not listed after {timeout:.0f} s: {missing}; import errors: {detail or 'none'}")
        time.sleep(3)


def unpause(stack: Stack, dag_ids: list[str]) -> None:
    """Unpause ``dag_ids`` through the REST API (what the UI's toggle does)."""
    for dag_id in dag_ids:
        stack.api("PATCH", f"/api/v2/dags/{urllib.parse.quote(dag_id)}", {"is_paused": False})


def _session_processes(leader: int) -> list[Any]:
    """The processes a stack started: its session, its process group and the leader's descendants."""
    import psutil

    found: dict[int, psutil.Process] = {}
    if _is_stack_leader(leader):  # else the leader is gone and its pid may belong to someone else now
        root = psutil.Process(leader)
        with contextlib.suppress(psutil.NoSuchProcess):
            for p in [root, *root.children(recursive=True)]:
                found[p.pid] = p
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == leader or os.getpgid(p.pid) == leader:
                found.setdefault(p.pid, p)
                # descendants that opened their own session (Spark's JVM under a task) belong to us too
                for child in p.children(recursive=True):
                    found.setdefault(child.pid, child)
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            continue
    return list(found.values())


def stop_session(leader: int, *, grace: float = 30) -> int:
    """SIGTERM every process of the stack led by ``leader``, SIGKILL what is left after ``grace`` s.

    Returns how many processes were signalled. Never touches processes outside the stack.
    """
    import psutil

    procs = _session_processes(leader)
    for p in procs:
        try:
            p.send_signal(signal.SIGTERM)
        except psutil.NoSuchProcess:
            continue
    _, alive = psutil.wait_procs(procs, timeout=grace)
    # components may have forked new task processes while stopping: look again
    leftovers = {p.pid: p for p in [*alive, *_session_processes(leader)]}
    for p in leftovers.values():
        try:
            p.kill()
        except psutil.NoSuchProcess:
            continue
    psutil.wait_procs(list(leftovers.values()), timeout=10)
    return len(procs)


def stop(home: str | Path) -> int | None:
    """Stop the stack recorded in ``home``; returns its leader pid, or None when none was up."""
    pid_file = Path(home) / PID_FILE
    if not pid_file.exists():
        return None
    leader = int(json.loads(pid_file.read_text())["pid"])
    stop_session(leader)
    pid_file.unlink(missing_ok=True)
    return leader


def up() -> int:
    """`make up`: start the stack, wait for the DAGs, unpause per NLPOPS_UNPAUSE, print the login."""
    port = get_settings().ui_port
    env = stack_environ(port=port)
    dag_ids = expected_dag_ids(env)
    try:
        to_unpause = unpause_selection(env, dag_ids)  # a bad value stops before anything starts
        stack = start(env)
    except StackError as exc:
        print(f"make up: {exc}")
        return 1
    try:
        listed = wait_for_dags(stack, dag_ids)
        unpause(stack, to_unpause)
    except (StackError, OSError) as exc:
        print(f"make up: {exc}\n(the stack is still running: `make down` stops it)")
        return 1
    paused = [d for d in dag_ids if d not in to_unpause and listed[d]["is_paused"]]
    print(f"Airflow is up at {stack.url}  (pid {stack.pid}, log {stack.log})")
    print(f"login: {stack.username} / {stack.password}")
    print(f"{len(dag_ids)} DAGs listed; unpaused (NLPOPS_UNPAUSE): {', '.join(to_unpause) or 'none'}")
    if paused:
        print("paused DAGs run when triggered from the UI with 'Unpause … on trigger' ticked, or when unpaused")
    print("stop it with `make down`")
    return 0


def down() -> int:
    """`make down`: stop exactly the processes `make up` started in this Airflow home."""
    home = airflow_environ()["AIRFLOW_HOME"]
    leader = stop(home)
    print("not up (no pid file)" if leader is None else f"stopped the stack of session {leader}")
    return 0


if __name__ == "__main__":
    commands = {"up": up, "down": down, "launch": launch}
    raise SystemExit(commands[sys.argv[1]]() if sys.argv[1:] and sys.argv[1] in commands else 2)
