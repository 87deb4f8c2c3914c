"""`make up` / `make down`: the local Airflow 3 web UI on 127.0.0.1:8080 with the project's DAGs.

`up` starts `airflow standalone` (api-server, scheduler, dag-processor, triggerer) in its own
process group with the project's environment, waits until the API answers, and prints the
login. `down` stops exactly the process group `up` recorded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from nlpops.runtime import airflow_bin, airflow_environ, ensure_airflow_home

URL = "http://127.0.0.1:8080"


def up() -> int:
    env = airflow_environ(
        AIRFLOW__API__HOST="127.0.0.1",
        AIRFLOW__API__PORT="8080",
        AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin",
        # standalone starts its components as `airflow …` subprocesses: the venv must be on PATH
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    home = Path(env["AIRFLOW_HOME"])
    pid_file = home / "stack.pid"
    if pid_file.exists():
        print(f"already up (pid file {pid_file}); `make down` first")
        return 1
    ensure_airflow_home(env)
    log = (home / "stack.log").open("ab")
    proc = subprocess.Popen(
        [airflow_bin(), "standalone"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    pid_file.write_text(str(proc.pid))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(f"airflow standalone exited ({proc.returncode}); see {home / 'stack.log'}")
            pid_file.unlink(missing_ok=True)
            return 1
        try:
            with urllib.request.urlopen(f"{URL}/api/v2/version", timeout=2) as resp:  # noqa: S310 - loopback only
                version = json.loads(resp.read())["version"]
            break
        except OSError:
            time.sleep(2)
    else:
        print(f"the API did not answer within 180 s; see {home / 'stack.log'}")
        return 1
    passwords = home / "simple_auth_manager_passwords.json.generated"
    login = passwords.read_text().strip() if passwords.exists() else "admin / (see stack.log)"
    print(f"Airflow {version} is up at {URL}  (pid {proc.pid}, log {home / 'stack.log'})")
    print(f"login: {login}")
    return 0


def down() -> int:
    home = Path(airflow_environ()["AIRFLOW_HOME"])
    pid_file = home / "stack.pid"
    if not pid_file.exists():
        print("not up (no pid file)")
        return 0
    pid = int(pid_file.read_text())
    try:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(30):
            os.killpg(pid, 0)
            time.sleep(1)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    pid_file.unlink(missing_ok=True)
    print(f"stopped process group {pid}")
    return 0


if __name__ == "__main__":
    raise SystemExit(up() if sys.argv[1:] == ["up"] else down() if sys.argv[1:] == ["down"] else 2)
