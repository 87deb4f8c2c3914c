"""Answer Airflow's human-in-the-loop requests through its REST API, as an analyst would (demo, tests).

``airflow dags test`` parks a HITL task in ``awaiting_input`` and polls the metadata database
until a response recorded from outside moves it on (airflow/sdk/definitions/dag.py, 3.3.2).
Here that outside is Airflow's own API app (``airflow.api_fastapi.app.create_app``) driven by
FastAPI's TestClient in a child process that shares the run's Airflow home: the real routes,
the real auth (simple auth manager login → JWT), no api-server process to start and wait for.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

#: The analyst's login for the simple auth manager of a local (embedded) Airflow home only.
USER, PASSWORD = "analyst", "analyst-pw"

_SCRIPT = r"""
import json, sys, time
from fastapi.testclient import TestClient
from airflow.api_fastapi.app import create_app

req = json.loads(sys.argv[1])
client = TestClient(create_app())
login = client.post("/auth/token", json={"username": req["user"], "password": req["password"]})
login.raise_for_status()
headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
out = []
for call in req["calls"]:
    if call["method"] == "ANSWER_LISTED":  # list the open requests, then answer each by its subject
        deadline = time.monotonic() + call.get("wait_seconds", 0)
        while True:
            listed = client.get(call["path"], params={"response_received": False}, headers=headers)
            details = listed.json().get("hitl_details", []) if listed.status_code == 200 else []
            if len(details) >= call["expected"] or time.monotonic() > deadline:
                break
            time.sleep(2)
        answered = []
        for d in details:
            ti = d["task_instance"]
            body = next((a for prefix, a in call["by_subject"].items() if d["subject"].startswith(prefix)), None)
            if body is None:
                answered.append({"subject": d["subject"], "status": None, "body": "no answer given"})
                continue
            path = (f"/api/v2/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/"
                    f"{ti['map_index']}/hitlDetails")
            r = client.patch(path, json=body, headers=headers)
            answered.append({"subject": d["subject"], "status": r.status_code, "body": r.json() if r.content else None})
        out.append({"status": listed.status_code, "body": {"listed": details, "answered": answered}})
        continue
    deadline = time.monotonic() + call.get("wait_seconds", 0)
    while True:
        r = client.request(
            call["method"], call["path"], json=call.get("body"), params=call.get("params"), headers=headers
        )
        body = r.json() if r.content else None
        want = call.get("until_total_entries")
        ready = want is None or (r.status_code == 200 and body.get("total_entries", 0) >= want)
        if ready or time.monotonic() > deadline:
            break
        time.sleep(2)
    out.append({"status": r.status_code, "body": body})
print("HITL_API " + json.dumps(out, default=str))
"""


def api_env(env: dict[str, str], home: Path) -> dict[str, str]:
    """The run's environment plus one analyst login for the simple auth manager."""
    passwords = home / "analyst_passwords.json"
    passwords.write_text(json.dumps({USER: PASSWORD}), encoding="utf-8")
    return {
        **env,
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
    }


def call_api(env: dict[str, str], home: Path, calls: list[dict[str, Any]], timeout: int = 600) -> list[dict[str, Any]]:
    """Run ``calls`` (method, path under the API app, body/params, optional wait) as the analyst."""
    req = json.dumps({"user": USER, "password": PASSWORD, "calls": calls})
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, req],
        env=api_env(env, home),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    line = next((x for x in proc.stdout.splitlines() if x.startswith("HITL_API ")), None)
    if proc.returncode != 0 or line is None:
        raise AssertionError(f"HITL API call failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return list(json.loads(line[len("HITL_API ") :]))


def pending(
    env: dict[str, str], home: Path, dag_id: str, *, expected: int, wait_seconds: int = 300
) -> list[dict[str, Any]]:
    """The HITL requests of ``dag_id`` once ``expected`` of them are open (waits up to ``wait_seconds``)."""
    path = f"/api/v2/dags/{dag_id}/dagRuns/~/hitlDetails"
    listed = call_api(env, home, [{"method": "GET", "path": path, "until_total_entries": expected,
                                   "wait_seconds": wait_seconds}])[0]  # fmt: skip
    if listed["status"] != 200:
        raise AssertionError(f"GET {path}: HTTP {listed['status']}: {listed['body']}")
    return list(listed["body"]["hitl_details"])


def answer(
    env: dict[str, str], home: Path, answers: list[tuple[dict[str, Any], str, dict[str, Any]]]
) -> list[dict[str, Any]]:
    """PATCH HITL requests (as listed by :func:`pending`): ``(detail, chosen option, params_input)`` each.

    All in one API session (one child process): starting Airflow's API app is the slow part.
    """
    calls = []
    for detail, chosen, params_input in answers:
        ti = detail["task_instance"]
        path = (
            f"/api/v2/dags/{ti['dag_id']}/dagRuns/{ti['dag_run_id']}/taskInstances/{ti['task_id']}/"
            f"{ti['map_index']}/hitlDetails"
        )
        calls.append(
            {"method": "PATCH", "path": path, "body": {"chosen_options": [chosen], "params_input": params_input}}
        )
    return call_api(env, home, calls)


def answer_listed(
    env: dict[str, str],
    home: Path,
    dag_id: str,
    by_subject: dict[str, tuple[str, dict[str, Any]]],
    *,
    expected: int,
    wait_seconds: int = 300,
) -> dict[str, Any]:
    """Wait until ``expected`` open requests of ``dag_id`` exist, answer each whose subject starts
    with a key of ``by_subject`` with ``(option, params_input)``; one API session.

    Returns ``{"listed": [...], "answered": [{"subject", "status", "body"}]}``.
    """
    call = {
        "method": "ANSWER_LISTED",
        "path": f"/api/v2/dags/{dag_id}/dagRuns/~/hitlDetails",
        "expected": expected,
        "wait_seconds": wait_seconds,
        "by_subject": {k: {"chosen_options": [c], "params_input": p} for k, (c, p) in by_subject.items()},
    }
    return dict(call_api(env, home, [call])[0]["body"])
