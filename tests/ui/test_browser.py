"""The web UI in a real browser: log in, see every DAG, trigger a run with its Params form, see it green,
open every extra link of the training and transform tasks, open the cluster report of the categories DAG and
the human-in-the-loop form it waits on.

One stack for the module (scripts/stack.py: api-server, scheduler, dag-processor, triggerer and
log servers, on a free port, in a temporary Airflow home and lake), driven by Debian's headless chromium through its own
chromedriver (never a downloaded one: `make browser-deps` installs both). The triggered run
is a real one — scheduler, LocalExecutor, triggerer — of ``amazon_polarity_ingest`` over a
small generated file: the deferrable sensor finds it, GX validates it, Spark prepares it,
the ledger records it. The train and batch-inference DAGs then run through the REST API (what
the UI's buttons call) and every extra link of every task of those runs is resolved by the
api-server and opened: an HTTP error anywhere fails the test. Screenshots go to ``reports/ui/``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.ui

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SHOTS = PROJECT_ROOT / "reports" / "ui"
PROFILE = "amazon_polarity"
DAG_ID = f"{PROFILE}_ingest"
ROWS = 120
# A cron whose last time is months ago: Airflow's own cron timetable would start a scheduled run
# the moment the trigger form unpauses the DAG (one click, two runs); the project's must not.
YEARLY = "0 0 1 1 *"
# Bounds within pytest's 300 s per test (the machine may be a loaded 2-core box).
STACK_TIMEOUT = 240
DAGS_TIMEOUT = 120
RUN_TIMEOUT = 260
UI_TIMEOUT = 90
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)


def _load_stack_module() -> Any:
    """scripts/stack.py (a script, not a package) imported by path."""
    spec = importlib.util.spec_from_file_location("nlpops_stack", PROJECT_ROOT / "scripts" / "stack.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


stack_mod = _load_stack_module()


def _browser_binaries() -> tuple[str, str]:
    """Debian's chromium and chromedriver; skip only where they cannot be installed here."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    installable = hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get")
    message = "Debian's chromium and chromium-driver are not installed"
    if installable:
        pytest.fail(f"{message}: run `make browser-deps` (apt-get install chromium chromium-driver)")
    pytest.skip(f"{message} and cannot be installed here (needs root and apt-get): browser test not run")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A running stack with one small raw file waiting in its lake; always stopped at the end."""
    _browser_binaries()  # no point starting Airflow for a browser that is not there
    root = tmp_path_factory.mktemp("ui")
    home, lake_dir, profiles = root / "airflow", root / "lake", root / "profiles"
    # The shipped profiles, with yearly crons (see YEARLY) and no quality floor: the model trained
    # on 120 rows becomes champion, so batch inference has one to score with.
    shutil.copytree(PROJECT_ROOT / "include" / "profiles", profiles)
    spec = yaml.safe_load((profiles / f"{PROFILE}.yaml").read_text())
    spec.setdefault("schedule", {}).update({"arrivals": YEARLY, "train": YEARLY})
    spec.setdefault("model", {})["metric_floor"] = 0.0
    (profiles / f"{PROFILE}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))

    for zone, name, extra in (("raw", "reviews.csv", []), ("inference-input", "batch.csv", ["--no-label"])):
        path = lake_dir / zone / PROFILE / name
        path.parent.mkdir(parents=True)
        generate = ["--profile", PROFILE, "--rows", str(ROWS), "--seed", "7", "--out", str(path), *extra]
        cmd = [sys.executable, "-m", "ml.generator", *generate]
        subprocess.run(cmd, check=True, capture_output=True, cwd=PROJECT_ROOT)
    env = stack_mod.stack_environ(
        home,
        port=stack_mod.free_port(),
        NLPOPS_LAKE_URI=lake_dir.as_uri(),
        NLPOPS_PROFILES_DIR=str(profiles),
        NLPOPS_PROFILES="",
        NLPOPS_TARGET="local",
        NLPOPS_SPARK_MASTER="local[1]",
        NLPOPS_SPARK_DRIVER_MEMORY="1g",
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__EXECUTOR="LocalExecutor",
        AIRFLOW__CORE__PARALLELISM="4",
    )
    running = stack_mod.start(env, timeout=STACK_TIMEOUT)
    try:
        running.env = env
        running.lake = lake_dir
        running.dag_ids = stack_mod.expected_dag_ids(env)
        stack_mod.wait_for_dags(running, running.dag_ids, timeout=DAGS_TIMEOUT)
        yield running
    finally:
        stack_mod.stop_session(running.pid)
        (home / stack_mod.PID_FILE).unlink(missing_ok=True)
        _keep_logs(home)


def _keep_logs(home: Path) -> None:
    """Keep the stack's and the triggered run's logs beside the screenshots (the temp home goes away)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    if (home / stack_mod.LOG_FILE).exists():
        shutil.copy(home / stack_mod.LOG_FILE, SHOTS / stack_mod.LOG_FILE)
    task_logs = home / "logs" / f"dag_id={DAG_ID}"
    if task_logs.is_dir():
        shutil.rmtree(SHOTS / "logs", ignore_errors=True)
        shutil.copytree(task_logs, SHOTS / "logs" / f"dag_id={DAG_ID}")


@pytest.fixture(scope="module")
def browser(stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless chromium logged in through the real login form with the stack's generated password."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    chromium, chromedriver = _browser_binaries()
    # Never let selenium-manager resolve or download a driver or browser (offline machines).
    os.environ["SE_OFFLINE"] = "true"
    os.environ["SE_AVOID_STATS"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    try:
        driver.set_page_load_timeout(UI_TIMEOUT)
        SHOTS.mkdir(parents=True, exist_ok=True)
        driver.get(stack.url)
        wait = WebDriverWait(driver, UI_TIMEOUT)
        wait.until(ec.presence_of_element_located((By.NAME, "username"))).send_keys(stack.username)
        driver.find_element(By.NAME, "password").send_keys(stack.password)
        driver.save_screenshot(str(SHOTS / "01-login.png"))
        driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
        wait.until(lambda d: "/auth/login" not in d.current_url)
        yield driver
    finally:
        driver.quit()


def _shot_on_failure(driver: Any, name: str) -> None:
    with contextlib.suppress(Exception):  # the browser itself may be what failed
        driver.save_screenshot(str(SHOTS / f"failure-{name}.png"))


def test_dag_list_shows_every_dag_of_every_enabled_profile(stack: Any, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    assert {f"{PROFILE}_{kind}" for kind in stack_mod.DAG_KINDS} <= set(stack.dag_ids)
    browser.get(f"{stack.url}/dags")

    def listed(driver: Any) -> set[str]:
        links = driver.find_elements(By.CSS_SELECTOR, "a[href*='/dags/']")
        ids = {(a.get_attribute("href") or "").rstrip("/").rsplit("/dags/", 1)[-1] for a in links}
        return ids if set(stack.dag_ids) <= ids else set()

    try:
        shown = WebDriverWait(browser, UI_TIMEOUT).until(listed)
        body = browser.find_element(By.TAG_NAME, "body").text
        total = stack.api("GET", "/api/v2/dags?limit=1")["total_entries"]
        assert f"{total} Dags" in body
        for dag_id in stack.dag_ids:
            assert dag_id in body, f"{dag_id} not shown on the DAG list"
    except Exception:
        _shot_on_failure(browser, "dag-list")
        raise
    # a window tall enough for the whole list in one screenshot
    browser.set_window_size(1400, 3000)
    time.sleep(2)
    browser.save_screenshot(str(SHOTS / "02-dag-list.png"))
    browser.set_window_size(1400, 1000)
    assert shown >= set(stack.dag_ids)


def test_every_listening_socket_of_the_stack_is_on_loopback(stack: Any) -> None:
    """api-server, both log servers, and nothing else that listens: 127.0.0.1 only (issue: Airflow's own log
    servers bind every interface)."""
    import psutil

    listening: dict[int, str] = {}
    for proc in stack_mod._session_processes(stack.pid):
        try:
            conns = proc.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for c in conns:
            if c.status == psutil.CONN_LISTEN:
                listening[c.laddr.port] = c.laddr.ip
    port = int(stack.env["AIRFLOW__API__PORT"])
    assert {port, port + 1, port + 2} <= set(listening), listening
    assert {ip for ip in listening.values()} == {"127.0.0.1"}, listening


def _runs(stack: Any, dag_id: str = DAG_ID) -> list[dict[str, Any]]:
    path = f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after&limit=20"
    return list(stack.api("GET", path, timeout=120)["dag_runs"])


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def _wait_for_green(stack: Any, run_id: str, dag_id: str = DAG_ID, timeout: float = RUN_TIMEOUT) -> dict[str, Any]:
    """Poll the REST API until the run is finished (bounded); fail with the task states if not green."""
    deadline = time.monotonic() + timeout
    run: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            run = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}", timeout=60)
        except OSError:  # the api-server shares two busy cores with Spark and GX: ask again
            time.sleep(5)
            continue
        if run["state"] in {"success", "failed"}:
            break
        time.sleep(5)
    tis = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances", timeout=120)["task_instances"]
    states = {ti["task_id"]: ti["state"] for ti in tis}
    for ti in sorted(tis, key=lambda t: t["start_date"] or ""):
        print(f"{ti['task_id']}: {ti['state']} try {ti['try_number']} {ti['start_date']} -> {ti['end_date']}")
    assert run.get("state") == "success", f"run {run_id} is {run.get('state')} (tasks {states}); log {stack.log}"
    return states


def test_triggered_run_goes_green_and_the_grid_shows_it(stack: Any, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, UI_TIMEOUT)
    assert _runs(stack) == []
    assert stack.api("GET", f"/api/v2/dags/{DAG_ID}")["is_paused"] is True
    browser.get(f"{stack.url}/dags/{DAG_ID}")
    try:
        wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-testid=trigger-dag-button]"))).click()
        dialog = wait.until(
            lambda d: next((e for e in d.find_elements(By.CSS_SELECTOR, "[role=dialog]") if e.is_displayed()), None)
        )
        # The Params form of the DAG: change two typed Params; the run's conf must carry them.
        for name, value in {"quiet_seconds": "0", "wait_timeout_minutes": "5"}.items():
            field = wait.until(lambda _d, n=name: dialog.find_element(By.NAME, f"element_{n}"))
            field.send_keys(Keys.CONTROL, "a")
            field.send_keys(Keys.DELETE)
            field.send_keys(value)
        unpause = dialog.find_element(By.CSS_SELECTOR, "input[type=checkbox]")
        assert unpause.is_selected(), "the trigger form should offer to unpause the DAG, ticked"
        browser.save_screenshot(str(SHOTS / "03-trigger-form.png"))
        dialog.find_element(By.CSS_SELECTOR, "[data-testid=trigger-dag-submit]").click()
        deadline = time.monotonic() + UI_TIMEOUT
        while not (runs := _runs(stack)) and time.monotonic() < deadline:
            time.sleep(1)
    except Exception:
        _shot_on_failure(browser, "trigger")
        raise
    assert len(runs) == 1, f"expected the one triggered run, got {runs}"
    run = runs[0]
    assert run["run_type"] == "manual"
    assert run["conf"]["quiet_seconds"] == 0 and run["conf"]["wait_timeout_minutes"] == 5, run["conf"]

    states = _wait_for_green(stack, run["dag_run_id"])
    assert states == dict.fromkeys(("wait_for_raw", "validate", "prepare_text", "mark_ledger"), "success")
    # the run did the work: the generated rows reached processed/ through the real pipeline
    manifests = list((stack.lake / "processed" / PROFILE).glob("run=*/_manifest.json"))
    assert len(manifests) == 1
    assert json.loads(manifests[0].read_text())["rows_in"] > 0

    # The runs list and the run's grid show the state the API reports.
    try:
        browser.get(f"{stack.url}/dags/{DAG_ID}/runs")
        wait.until(lambda d: run["dag_run_id"] in d.find_element(By.TAG_NAME, "body").text)
        wait.until(lambda d: "Success" in d.find_element(By.TAG_NAME, "body").text)
        browser.save_screenshot(str(SHOTS / "04-runs-success.png"))
        browser.get(f"{stack.url}/dags/{DAG_ID}/runs/{run['dag_run_id']}")
        wait.until(lambda d: "Success" in d.find_element(By.TAG_NAME, "body").text)
        body = browser.find_element(By.TAG_NAME, "body").text
        for task_id in states:
            assert task_id in body, f"task {task_id} not in the run's grid"
    except Exception:
        _shot_on_failure(browser, "run-grid")
        raise
    browser.save_screenshot(str(SHOTS / "05-run-grid-success.png"))
    # still the one run: unpausing on trigger started no scheduled run beside it
    assert [r["dag_run_id"] for r in _runs(stack)] == [run["dag_run_id"]]


def test_data_docs_of_the_ingested_file_render_offline(stack: Any, browser: Any) -> None:
    """The GX Data Docs of the triggered run show their results with no network: the results table is
    built by the page's own JS (bootstrap-table) loaded from the project's copies, not from a CDN."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    [docs] = (stack.lake / "reports" / "validation" / PROFILE).glob("*/data_docs/index.html")
    url = f"{stack.url}/nlpops/reports/{docs.relative_to(stack.lake / 'reports').as_posix()}"
    assert _status(stack, url) == 200
    browser.get(url)
    try:
        WebDriverWait(browser, UI_TIMEOUT).until(lambda d: "Showing 1 to" in d.find_element(By.TAG_NAME, "body").text)
    except Exception:
        _shot_on_failure(browser, "data-docs")
        raise
    browser.save_screenshot(str(SHOTS / "06-data-docs.png"))


def _trigger(stack: Any, dag_id: str, conf: dict[str, Any]) -> str:
    """Unpause ``dag_id`` and trigger one run (the REST calls behind the UI's toggle and trigger form)."""
    stack_mod.unpause(stack, [dag_id])
    run = stack.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
    return str(run["dag_run_id"])


def _status(stack: Any, url: str) -> int:
    """HTTP status of ``url`` fetched with the stack's login (what the browser gets, codes included)."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {stack.token()}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _open_every_link(stack: Any, browser: Any, dag_id: str, run_id: str) -> dict[str, dict[str, str]]:
    """Every extra link of every task of the run: resolved by the api-server, then opened. Returns them."""
    tis = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances")["task_instances"]
    links: dict[str, dict[str, str]] = {}
    for ti in tis:
        path = f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances/{ti['task_id']}/links"
        try:
            links[ti["task_id"]] = stack.api("GET", path)["extra_links"]
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{dag_id}.{ti['task_id']}: GET {path} answered HTTP {exc.code}") from exc
    for task_id, named in links.items():
        for name, url in named.items():
            assert url, f"{dag_id}.{task_id}: extra link {name!r} has no URL"
            status = _status(stack, url)
            assert status < 400, f"{dag_id}.{task_id}: extra link {name!r} -> {url} answered HTTP {status}"
            browser.get(url)
            slug = f"{task_id}-{name}".lower().replace(" ", "-")
            browser.save_screenshot(str(SHOTS / f"link-{dag_id.removeprefix(PROFILE + '_')}-{slug}.png"))
    return {task: named for task, named in links.items() if named}


def test_train_run_and_its_extra_links(stack: Any, browser: Any) -> None:
    """Train on what ingest prepared; the training task's links open its evaluation report and Model Ops."""
    from selenium.webdriver.common.by import By

    dag_id = f"{PROFILE}_train"
    run_id = _trigger(stack, dag_id, {})
    _wait_for_green(stack, run_id, dag_id)
    links = _open_every_link(stack, browser, dag_id, run_id)
    assert set(links) == {"train"} and set(links["train"]) == {"Evaluation report", "Model Ops"}, links
    browser.get(links["train"]["Evaluation report"])
    page = browser.find_element(By.TAG_NAME, "body").text
    version = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances/register")
    assert "Challenger vs champion" in page and PROFILE in page and run_id in page, page[:2000]
    assert version["state"] == "success" and "Model version" in page, page[:2000]
    assert [r["dag_run_id"] for r in _runs(stack, dag_id)] == [run_id]  # one click, one run


def test_batch_inference_run_and_its_extra_links(stack: Any, browser: Any) -> None:
    """Score the waiting batch with the new champion; the transform task's three links open."""
    dag_id = f"{PROFILE}_batch_inference"
    run_id = _trigger(stack, dag_id, {"quiet_seconds": 0, "wait_timeout_minutes": 0})
    _wait_for_green(stack, run_id, dag_id, timeout=150)  # ~30 s of work when healthy
    links = _open_every_link(stack, browser, dag_id, run_id)
    assert set(links) == {"transform"}, links
    assert set(links["transform"]) == {"Transform output", "Input Data Docs", "Model Ops"}, links
    # GX Data Docs of the scored input, offline: the results table is built by the page's own
    # JS (bootstrap-table), loaded from the project's copies, not from a CDN
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(links["transform"]["Input Data Docs"])
    try:
        WebDriverWait(browser, UI_TIMEOUT).until(lambda d: "Showing 1 to" in d.find_element(By.TAG_NAME, "body").text)
    except Exception:
        _shot_on_failure(browser, "data-docs")
        raise
    browser.save_screenshot(str(SHOTS / "06-data-docs.png"))


def test_categories_review_form_and_cluster_report(stack: Any, browser: Any) -> None:
    """After batch inference: the categories DAG clusters the scored texts, writes its cluster report
    (linked from Model Ops) and waits for a person; the HITL form of a cluster opens in the UI."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    dag_id = f"{PROFILE}_categories"
    run_id = _trigger(stack, dag_id, {"min_sample": 20, "k_max": 4})
    hitl = f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/hitlDetails"
    deadline = time.monotonic() + RUN_TIMEOUT
    details: list[dict[str, Any]] = []
    while not details:
        details = stack.api("GET", hitl)["hitl_details"]
        tis = stack.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances")["task_instances"]
        failed = [t["task_id"] for t in tis if t["state"] in ("failed", "upstream_failed")]
        assert not failed, f"{dag_id} {run_id}: {failed} failed before asking a person"
        assert "nothing_to_review" not in {t["task_id"] for t in tis if t["state"] == "success"}, tis
        assert time.monotonic() < deadline, f"{dag_id} {run_id}: no HITL request within {RUN_TIMEOUT} s: {tis}"
        time.sleep(2)
    first = details[0]
    assert first["response_received"] is False and "ignore" in first["options"], first
    assert first["defaults"] == ["ignore"], first  # nothing changes without a person

    # The cluster report, found the way an analyst finds it: Model Ops links the latest one.
    summary = json.loads(_get(stack, f"{stack.url}/nlpops/api/profiles"))
    (profile,) = [p for p in summary["profiles"] if p["name"] == PROFILE]
    key = profile["cluster_report"]
    assert key and key.startswith(f"categories/{PROFILE}/"), profile
    report = f"{stack.url}/nlpops/reports/{urllib.parse.quote(key)}"
    assert _status(stack, report) == 200
    model_ops = _get(stack, f"{stack.url}/nlpops/")
    assert f'href="reports/{key}"' in model_ops, "Model Ops does not link the cluster report"
    browser.get(report)
    page = browser.find_element(By.TAG_NAME, "body").text
    assert f"Candidate categories for {PROFILE}" in page and "Cluster" in page, page[:2000]
    browser.save_screenshot(str(SHOTS / "07-cluster-report.png"))

    # The HITL form of the first cluster, in Airflow's UI (Required Actions of the mapped task).
    ti = first["task_instance"]
    form = (
        f"{stack.url}/dags/{dag_id}/runs/{_q(run_id)}/tasks/{ti['task_id']}/mapped/{ti['map_index']}/required_actions"
    )
    browser.get(form)
    try:
        WebDriverWait(browser, UI_TIMEOUT).until(
            lambda d: (
                first["subject"] in d.find_element(By.TAG_NAME, "body").text
                and "ignore" in d.find_element(By.TAG_NAME, "body").text
            )
        )
    except Exception:
        _shot_on_failure(browser, "hitl-form")
        raise
    body = browser.find_element(By.TAG_NAME, "body").text
    assert "new category" in body, body[:2000]
    browser.save_screenshot(str(SHOTS / "08-hitl-form.png"))


def _get(stack: Any, url: str) -> str:
    """Body of ``url`` fetched with the stack's login."""
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {stack.token()}"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return str(resp.read().decode("utf-8"))
