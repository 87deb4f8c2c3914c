"""Model Ops view: the summary from a real MLflow registry and lake, the FastAPI app, the plugin, the links."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from include import lake as lk

PROFILE = "amazon_polarity"
T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


@pytest.fixture
def settings(lake):
    """Fresh settings on an empty lake (tests that write their own lake content)."""
    from include.settings import get_settings

    return get_settings()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """Settings of one lake + MLflow store shared by the read-only tests (an MLflow store costs ~10 s)."""
    from include.settings import get_settings

    root = tmp_path_factory.mktemp("model_ops")
    (root / "lake").mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NLPOPS_LAKE_URI", (root / "lake").as_uri())
        mp.setenv("AIRFLOW_HOME", str(root / "airflow"))
        get_settings.cache_clear()
        s = get_settings()
        get_settings.cache_clear()
    return s


@pytest.fixture
def profile():
    from include.profiles import get_profile

    return get_profile(PROFILE)


def _decision(status: str, retrain: bool, hour: int, over: dict[str, float], run_key: str):
    from ml.drift.policy import Decision

    return Decision(
        status=status,  # type: ignore[arg-type]
        retrain=retrain,
        reasons=[f"{m}={v} > limit" for m, v in over.items()] or ["0 metric(s) over threshold"],
        metrics_over=sorted(over),
        time=T0 + timedelta(hours=hour),
        n=3000,
        run_key=run_key,
        metrics={"length_psi": 0.01, "token_js": 0.04, **over},
    )


@pytest.fixture(scope="module")
def populated(shared):
    """Registry: v1 champion (Approved), v2 challenger (pending, a reason with markup); lake: reports."""
    from ml.drift.policy import append_history, history_uri
    from ml.registry import get_registry
    from ml.registry.lifecycle import promote, register_challenger

    reg = get_registry(shared)
    eval1 = shared.zone_uri("reports", "evaluation", PROFILE, "job-1", "index.html")
    eval2 = shared.zone_uri("reports", "evaluation", PROFILE, "job-2", "index.html")
    lk.write_text(eval1, "<html><h1>evaluation of job-1</h1></html>")
    lk.write_text(eval2, "<html><h1>evaluation of job-2</h1></html>")
    v1 = register_challenger(
        reg,
        PROFILE,
        "file:///m1/model.tar.gz",
        {"macro_f1": 0.81, "accuracy": 0.82},
        {"job_name": "job-1", "evaluation_report": eval1},
    )
    promote(reg, PROFILE, v1.version, "first model: macro_f1 0.81 >= floor 0.6")
    register_challenger(
        reg,
        PROFILE,
        "file:///m2/model.tar.gz",
        {"macro_f1": 0.79, "accuracy": 0.8},
        {"job_name": "job-2", "evaluation_report": eval2},
    )
    reg.set_status(PROFILE, "2", "PendingManualApproval", "<script>alert('x')</script> awaiting a human")

    hist = history_uri(PROFILE, shared)
    append_history(hist, _decision("no_drift", False, 0, {}, "20260301T060000"))
    append_history(hist, _decision("drift_window", False, 1, {"domain_auc": 0.97}, "20260301T070000"))
    append_history(hist, _decision("drift", True, 2, {"domain_auc": 0.99, "length_psi": 2.9}, "20260301T080000"))
    lk.write_text(
        shared.zone_uri("reports", "drift", PROFILE, "20260301T080000", "report.html"), "<h1>drift report 08</h1>"
    )

    # two published validation runs; the second one is the newest
    for i, run in enumerate(("20260301T010000", "20260301T020000")):
        final = shared.zone_uri("reports", "validation", PROFILE, run)
        staging = lk.staging_uri(final)
        lk.write_text(lk.join(staging, "data_docs", "index.html"), f"<h1>data docs {run}</h1>")
        lk.publish_dir(staging, final, {"run_key": run})
        manifest = lk.local_path(lk.join(final, lk.MANIFEST))
        os.utime(manifest, (1_000_000 + i * 100, 1_000_000 + i * 100))
    # a run still staging (no manifest) is never picked
    lk.write_text(
        shared.zone_uri("reports", "validation", PROFILE, "_tmp_x_1234abcd", "data_docs", "index.html"), "partial"
    )
    # two cluster reports of the categories DAG; the later one is the newest; a clusters.json is no report
    for i, run in enumerate(("20260302T010000", "20260302T020000")):
        uri = shared.zone_uri("reports", "categories", PROFILE, run, "index.html")
        lk.write_text(uri, f"<h1>clusters {run}</h1>")
        os.utime(lk.local_path(uri), (2_000_000 + i * 100, 2_000_000 + i * 100))
    lk.write_text(shared.zone_uri("reports", "categories", PROFILE, "decisions.jsonl"), "{}\n")
    # something outside the reports zone the app must never serve
    lk.write_text(shared.zone_uri("models", "secret.txt"), "not a report")
    return shared


# -- the summary -----------------------------------------------------------------------------
def test_summary_champion_challenger_decisions_and_reports(profile, populated):
    from nlpops.ui.model_ops import build_summary

    settings = populated

    summary = build_summary(settings, profiles=[profile], decisions=2)
    (p,) = summary.profiles
    assert p.errors == []
    assert p.champion is not None and p.champion.version == "1"
    assert p.champion.status == "Approved" and "champion" in p.champion.aliases
    assert p.champion.metrics == {"accuracy": 0.82, "macro_f1": 0.81}
    assert p.champion.evaluation_report == f"evaluation/{PROFILE}/job-1/index.html"
    assert p.challenger is not None and p.challenger.version == "2"
    assert p.challenger.status == "PendingManualApproval" and p.challenger.metrics["macro_f1"] == 0.79
    assert [v.version for v in p.recent_versions] == ["2", "1"]
    # the last 2 decisions, newest first, with the values of the metrics over threshold
    assert [d.status for d in p.decisions] == ["drift", "drift_window"]
    assert p.decisions[0].retrain and p.decisions[0].metrics_over == {"domain_auc": 0.99, "length_psi": 2.9}
    assert p.decisions[0].report == f"drift/{PROFILE}/20260301T080000/report.html"
    assert p.decisions[1].report is None  # no report file for that run
    assert p.validation_docs == f"validation/{PROFILE}/20260301T020000/data_docs/index.html"
    assert p.inference_validation_docs is None
    assert p.cluster_report == f"categories/{PROFILE}/20260302T020000/index.html"
    assert summary.to_dict()["profiles"][0]["champion"]["version"] == "1"


def test_summary_shows_what_it_can_when_the_registry_fails(profile, populated):
    from nlpops.ui.model_ops import build_summary

    settings = populated

    def broken(_settings):
        raise NotImplementedError("no SageMaker registry client")

    (p,) = build_summary(settings, profiles=[profile], registry_factory=broken).profiles
    assert p.champion is None and any("no SageMaker registry client" in e for e in p.errors)
    assert p.decisions[0].status == "drift"  # the lake part is still there


def test_summary_names_a_bad_history_line(settings, profile):
    from nlpops.ui.model_ops import build_summary

    lk.write_text(settings.zone_uri("reports", "drift", PROFILE, "history.jsonl"), '{"oops": 1}\n')
    (p,) = build_summary(settings, profiles=[profile], registry_factory=lambda s: None).profiles
    assert any("history.jsonl line 1" in e for e in p.errors)


@pytest.mark.parametrize(
    "key",
    ["../models/secret.txt", "evaluation/../../models/secret.txt", "/etc/passwd", "a\\b", "", ".hidden", "x//y"],
)
def test_report_uri_refuses_traversal(settings, key):
    from include.lake import LakePathError
    from nlpops.ui.model_ops import report_uri

    with pytest.raises(LakePathError):
        report_uri(settings, key)


def test_report_uri_refuses_a_symlink_out_of_the_zone(populated):
    from include.lake import LakePathError
    from nlpops.ui.model_ops import report_uri

    settings = populated

    link = Path(lk.local_path(settings.zone_uri("reports", "evil.txt")))
    link.symlink_to(lk.local_path(settings.zone_uri("models", "secret.txt")))
    with pytest.raises(LakePathError, match="outside the reports zone"):
        report_uri(settings, "evil.txt")


# -- the app -----------------------------------------------------------------------------------
@pytest.fixture
def client(profile, populated):
    from fastapi.testclient import TestClient

    from nlpops.ui import model_ops
    from nlpops.ui.app import authorize, create_app

    real = model_ops.build_summary

    def one_profile(s, **kw):
        return real(s, profiles=[profile], **kw)

    app = create_app(lambda: populated)
    app.dependency_overrides[authorize] = lambda: None  # the auth check itself is tested below
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(model_ops, "build_summary", one_profile)
        yield TestClient(app)


def test_page_lists_champion_challenger_decisions_and_links(client):
    resp = client.get("/")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/html")
    page = resp.text
    assert f'id="profile-{PROFILE}"' in page
    assert "macro_f1</code> = 0.81" in page and "macro_f1</code> = 0.79" in page
    assert "PendingManualApproval" in page and "Approved" in page
    assert "drift_window" in page and "domain_auc</code> = 0.99" in page
    assert f'href="reports/evaluation/{PROFILE}/job-1/index.html"' in page
    assert f'href="reports/drift/{PROFILE}/20260301T080000/report.html"' in page
    assert f'href="reports/validation/{PROFILE}/20260301T020000/data_docs/index.html"' in page
    assert f'href="reports/categories/{PROFILE}/20260302T020000/index.html"' in page
    assert client.get(f"/reports/categories/{PROFILE}/20260302T020000/index.html").status_code == 200
    # registry text is escaped, and the page pulls nothing from other hosts
    assert "<script>alert" not in page and "&lt;script&gt;alert" in page
    assert "http://" not in page.replace("http://www.w3.org", "") and "https://" not in page


def test_json_summary(client):
    resp = client.get("/api/profiles")
    assert resp.status_code == 200
    (p,) = resp.json()["profiles"]
    assert p["champion"]["version"] == "1" and p["challenger"]["version"] == "2"
    assert [d["status"] for d in p["decisions"]] == ["drift", "drift_window", "no_drift"]


def test_serves_reports_and_nothing_else(client):
    resp = client.get(f"/reports/evaluation/{PROFILE}/job-1/index.html")
    assert resp.status_code == 200 and "evaluation of job-1" in resp.text
    assert resp.headers["content-type"].startswith("text/html")
    assert client.get(f"/reports/drift/{PROFILE}/history.jsonl").headers["content-type"] == "application/json"
    assert client.get(f"/reports/evaluation/{PROFILE}/job-9/index.html").status_code == 404
    assert client.get(f"/reports/evaluation/{PROFILE}").status_code == 404  # a folder
    for attack in (
        "/reports/%2e%2e/models/secret.txt",
        "/reports/evaluation/%2e%2e/%2e%2e/models/secret.txt",
        "/reports/..%2fmodels%2fsecret.txt",
        "/reports/%2fetc%2fpasswd",
    ):
        resp = client.get(attack)
        assert resp.status_code in (400, 404), attack
        assert "not a report" not in resp.text


def test_transform_job_summary(client, populated):
    settings = populated
    job = "amazon-polarity-batch-inference-transform-x"
    lk.write_json(
        settings.zone_uri("inference-output", PROFILE, job, lk.MANIFEST),
        {
            "records_in": 7,
            "scored": 6,
            "errors": 1,
            "model_version": "1",
            "file_results": [{"key": "b<1>.csv", "records": 7, "scored": 6, "errors": 1}],
        },
    )
    resp = client.get(f"/transform/{PROFILE}/{job}")
    assert resp.status_code == 200 and "b&lt;1&gt;.csv" in resp.text and "<td>6</td>" in resp.text
    assert client.get(f"/transform/{PROFILE}/nope").status_code == 404
    assert client.get(f"/transform/{PROFILE}/%2e%2e").status_code == 400


def test_app_requires_an_airflow_login(settings, monkeypatch):
    """Airflow leaves plugin apps open: ours checks the UI cookie / bearer token with the auth manager."""
    import airflow.api_fastapi.app as api_app
    import airflow.api_fastapi.core_api.security as security
    import jwt
    from fastapi.testclient import TestClient

    from nlpops.ui.app import create_app

    class FakeAuthManager:
        async def get_user_from_token(self, token):
            if token not in ("viewer-token", "stranger-token"):
                raise jwt.InvalidTokenError("bad signature")
            return SimpleNamespace(name=token.split("-")[0])

        def is_authorized_dag(self, *, method, user, access_entity=None, details=None):
            return method == "GET" and user.name == "viewer"

        def get_url_login(self, **kwargs):
            return "/auth/login?next=" + kwargs["next_url"]

    fake = FakeAuthManager()
    monkeypatch.setattr(security, "get_auth_manager", lambda: fake)
    monkeypatch.setattr(api_app, "get_auth_manager", lambda: fake)
    client = TestClient(create_app(registry_factory=lambda s: None), follow_redirects=False)

    assert client.get("/api/profiles").status_code == 401
    assert client.get(f"/reports/drift/{PROFILE}/history.jsonl").status_code == 401
    login = client.get("/", headers={"Accept": "text/html"})
    assert login.status_code == 303 and login.headers["location"].startswith("/auth/login?next=")
    assert client.get("/api/profiles", headers={"Authorization": "Bearer forged"}).status_code == 403
    assert client.get("/api/profiles", headers={"Authorization": "Bearer stranger-token"}).status_code == 403
    assert client.get("/api/profiles", headers={"Authorization": "Bearer viewer-token"}).status_code == 200
    client.cookies.set("_token", "viewer-token")  # what the UI's login sets
    assert client.get("/api/profiles").status_code == 200


# -- the plugin --------------------------------------------------------------------------------
def test_plugin_is_discovered_by_airflow(tmp_path):
    from nlpops.runtime import airflow_environ

    env = airflow_environ(tmp_path / "airflow")
    probe = (
        "import json\n"
        "from airflow import plugins_manager as pm\n"
        "plugins, errors = pm._get_plugins()\n"
        "apps, _ = pm.get_fastapi_plugins()\n"
        "views, _ = pm._get_ui_plugins()\n"
        "print(json.dumps({'plugins': [p.name for p in plugins], 'errors': errors,\n"
        "  'apps': [[a['url_prefix'], type(a['app']).__name__] for a in apps],\n"
        "  'views': views,\n"
        "  'links': [type(x).__name__ for x in pm.get_operator_extra_links()],\n"
        "  'global_links': [type(x).__name__ for x in pm.get_global_operator_extra_links()],\n"
        "  'stray': sorted(m for m in __import__('sys').modules if m in ('app', 'training', 'idempotent'))}))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert "nlpops" in found["plugins"] and found["errors"] == {}
    assert ["/nlpops", "FastAPI"] in found["apps"]
    (view,) = [v for v in found["views"] if v["name"] == "Model Ops"]
    assert view["href"] == "/nlpops/" and view["url_route"] == "model-ops"
    # links registered in a plugin would run in the api-server, which cannot read XComs through the task SDK
    assert found["links"] == [] and found["global_links"] == []
    assert found["stray"] == []  # plugins/.airflowignore: package files are not imported one by one


def test_the_api_server_reads_the_links_the_worker_stored(tmp_path):
    """Deserialised as the api-server does (plugins loaded), every report link reads its URL from XCom.

    The worker stores each link's URL under the link's ``xcom_key`` when the task finishes; a link
    class of ours at this point would call the task SDK inside the api-server (HTTP 500).
    """
    from nlpops.runtime import airflow_environ

    env = airflow_environ(tmp_path / "airflow", NLPOPS_LAKE_URI=(tmp_path / "lake").as_uri())
    probe = tmp_path / "probe.py"  # a file, not -c: pyspark exits 0 when __main__ has no __file__
    probe.write_text(
        "import json\n"
        "from datetime import datetime\n"
        "from airflow.sdk import DAG\n"
        "from airflow.serialization.serialized_objects import DagSerialization\n"
        "from nlpops.operators.training import LocalTrainingOperator\n"
        "from nlpops.operators.transform import LocalBatchTransformOperator\n"
        "with DAG('d', schedule=None, start_date=datetime(2026, 1, 1)) as dag:\n"
        "    LocalTrainingOperator(task_id='train', profile_name='p', processed_uri='file:///x',\n"
        "        output_uri='file:///y', hyperparameters={})\n"
        "    LocalBatchTransformOperator(task_id='transform', profile_name='p', objects=[],\n"
        "        model_artifact_uri='file:///m', model_version='1')\n"
        "api_side = DagSerialization.from_dict(DagSerialization.to_dict(dag))\n"
        "print(json.dumps({t.task_id: sorted([type(x).__name__, x.name, x.xcom_key]\n"
        "    for x in t.operator_extra_links) for t in api_side.tasks}))\n"
    )
    out = subprocess.run([sys.executable, str(probe)], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found == {
        "train": [
            ["XComOperatorLink", "Evaluation report", "_link_EvaluationReportLink"],
            ["XComOperatorLink", "Model Ops", "_link_ModelOpsLink"],
        ],
        "transform": [
            ["XComOperatorLink", "Input Data Docs", "_link_InputDataDocsLink"],
            ["XComOperatorLink", "Model Ops", "_link_ModelOpsLink"],
            ["XComOperatorLink", "Transform output", "_link_TransformOutputLink"],
        ],
    }


# -- the links ---------------------------------------------------------------------------------
def _ti_key():
    return SimpleNamespace(dag_id="amazon_polarity_train", task_id="train", run_id="r", try_number=1, map_index=-1)


def test_training_operator_pushes_what_its_links_need(settings, monkeypatch):
    from airflow.sdk import DAG

    from nlpops.links.reports import LINK_TARGETS_KEY, EvaluationReportLink, ModelOpsLink
    from nlpops.operators.training import LocalTrainingOperator

    with DAG("amazon_polarity_train", schedule=None, start_date=T0):
        op = LocalTrainingOperator(
            task_id="train",
            profile_name=PROFILE,
            processed_uri=settings.zone_uri("processed", PROFILE),
            output_uri=settings.zone_uri("models", PROFILE),
            hyperparameters={},
        )
    assert {type(x) for x in op.operator_extra_links} == {EvaluationReportLink, ModelOpsLink}
    pushed: dict = {}
    ti = SimpleNamespace(xcom_push=lambda key, value: pushed.update({key: value}))
    op._push_link_targets({"ti": ti}, "job-7")
    assert pushed[LINK_TARGETS_KEY]["evaluation_report"] == f"evaluation/{PROFILE}/job-7/index.html"

    from airflow.sdk.execution_time import xcom

    monkeypatch.setattr(xcom.XCom, "get_value", classmethod(lambda cls, *, ti_key, key: pushed.get(key)))
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://127.0.0.1:8080")
    assert (
        EvaluationReportLink().get_link(op, ti_key=_ti_key())
        == f"http://127.0.0.1:8080/nlpops/reports/evaluation/{PROFILE}/job-7/index.html"
    )
    assert ModelOpsLink().get_link(op, ti_key=_ti_key()) == f"http://127.0.0.1:8080/nlpops/#profile-{PROFILE}"
    pushed.clear()
    assert EvaluationReportLink().get_link(op, ti_key=_ti_key()) == ""  # nothing pushed: no link


def test_transform_links(settings, monkeypatch):
    from airflow.sdk.execution_time import xcom

    from nlpops.links.reports import InputDataDocsLink, TransformOutputLink, link_targets
    from nlpops.operators.transform import LocalBatchTransformOperator

    targets = link_targets(
        settings=settings, profile=PROFILE, job_name="job x", run_key="20260301T050000", kind="transform"
    )
    assert targets["input_data_docs"] == f"validation/{PROFILE}-inference/20260301T050000/data_docs/index.html"
    monkeypatch.setattr(xcom.XCom, "get_value", classmethod(lambda cls, *, ti_key, key: targets))
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "")
    assert TransformOutputLink().get_link(None, ti_key=_ti_key()) == f"/nlpops/transform/{PROFILE}/job%20x"
    assert InputDataDocsLink().get_link(None, ti_key=_ti_key()) == (
        f"/nlpops/reports/validation/{PROFILE}-inference/20260301T050000/data_docs/index.html"
    )
    assert TransformOutputLink in {type(x) for x in LocalBatchTransformOperator.operator_extra_links}


def test_aws_console_links(monkeypatch):
    from airflow.sdk.execution_time import xcom

    from nlpops.links.aws import (
        SageMakerTrainingJobConsoleLink,
        SageMakerTransformJobConsoleLink,
        glue_job_run_url,
    )

    results = {
        "train": {"Training": {"TrainingJobName": "amazon-polarity-train-train-20260301t-1a2b3c4d"}},
        "transform": {"Model": {}, "Transform": {"TransformJobName": "amazon-polarity-bi-transform-x"}},
    }
    monkeypatch.setattr(xcom.XCom, "get_value", classmethod(lambda cls, *, ti_key, key: results.get(ti_key.task_id)))
    op = SimpleNamespace(region_name="eu-west-1")  # no hook: the region comes from the operator
    key = _ti_key()
    assert SageMakerTrainingJobConsoleLink().get_link(op, ti_key=key) == (
        "https://console.aws.amazon.com/sagemaker/home?region=eu-west-1#/jobs/amazon-polarity-train-train-20260301t-1a2b3c4d"
    )
    key.task_id = "transform"
    assert SageMakerTransformJobConsoleLink().get_link(op, ti_key=key) == (
        "https://console.aws.amazon.com/sagemaker/home?region=eu-west-1#/transform-jobs/amazon-polarity-bi-transform-x"
    )
    key.task_id = "other"  # no result (the task failed before it had a job): no link
    assert SageMakerTrainingJobConsoleLink().get_link(op, ti_key=key) == ""
    monkeypatch.setenv("NLPOPS_AWS_REGION", "ap-south-1")
    from include.settings import get_settings

    get_settings.cache_clear()
    key.task_id = "train"
    no_region = SimpleNamespace(region_name=None)
    assert "region=ap-south-1#" in SageMakerTrainingJobConsoleLink().get_link(no_region, ti_key=key)
    get_settings.cache_clear()
    assert glue_job_run_url("us-east-1", "nlpops-prepare text", "jr_1", "aws-cn") == (
        "https://console.amazonaws.cn/gluestudio/home?region=us-east-1#/job/nlpops-prepare%20text/run/jr_1"
    )


def test_aws_operators_carry_the_console_links():
    from nlpops.aws.idempotent import IdempotentSageMakerTrainingOperator, IdempotentSageMakerTransformOperator
    from nlpops.links.aws import SageMakerTrainingJobConsoleLink, SageMakerTransformJobConsoleLink
    from nlpops.links.reports import EvaluationReportLink

    training = {type(x) for x in IdempotentSageMakerTrainingOperator.operator_extra_links}
    assert {SageMakerTrainingJobConsoleLink, EvaluationReportLink} <= training
    transform = {type(x) for x in IdempotentSageMakerTransformOperator.operator_extra_links}
    assert SageMakerTransformJobConsoleLink in transform


def test_data_docs_load_every_cdn_asset_from_the_project(client, populated):
    """GX Data Docs pages load CSS/JS/fonts from public CDNs: served from the project, they work offline."""
    import importlib.util
    import re

    from nlpops.ui.app import _CDN_URL, gx_asset

    origin = importlib.util.find_spec("great_expectations").origin
    templates = Path(origin).parent / "render" / "view" / "templates"
    used = sorted({rel for f in templates.glob("*.j2") for rel in _CDN_URL.findall(f.read_text(encoding="utf-8"))})
    assert len(used) >= 15, used  # what GX 1.x templates load
    assert [rel for rel in used if gx_asset(rel) is None] == []  # a GX upgrade that adds an asset fails here
    page = "".join(f'<script src="https://{rel}"></script>' for rel in used)
    key = f"validation/{PROFILE}/20260301T020000/data_docs/offline.html"
    lk.write_text(populated.zone_uri("reports", key), f"<html><head>{page}</head><body>results</body></html>")
    served = client.get(f"/reports/{key}")
    assert served.status_code == 200 and not _CDN_URL.search(served.text), served.text[:500]
    local = re.findall(r'src="([^"]+)"', served.text)
    assert len(local) == len(used)
    for url in local:
        asset = client.get(url)
        assert asset.status_code == 200 and asset.content, url
    fonts = client.get("/static/gx/cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/webfonts/fa-solid-900.woff2")
    assert fonts.status_code == 200 and fonts.headers["content-type"] == "font/woff2"
    assert client.get("/static/gx/../app.py").status_code == 404
    assert client.get("/static/gx/%2e%2e/app.py").status_code == 404
