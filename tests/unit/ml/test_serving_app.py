"""Real-time serving (ml/serving): SageMaker's contract, tokens, limits, metrics, hot swap under load."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path

import httpx
import pytest
from test_inference_support import make_model_dir

from ml.artefact import pack_model_dir
from ml.registry import ModelVersion
from ml.serving.app import ServingMetrics, TokenError, create_app, parse_tokens
from ml.serving.champion import ChampionRef, ChampionWatcher, LoadedModel, ModelSlot, load_champion

TOKEN = "s3cret-token-for-tests-0001"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TOKENS = {TOKEN: "alice"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("serve") / "model")


@pytest.fixture(scope="module")
def loaded(model_dir: Path) -> LoadedModel:
    return load_champion(ChampionRef("3", model_dir.as_uri()))


@pytest.fixture
def client(loaded: LoadedModel):
    from starlette.testclient import TestClient

    app = create_app(ModelSlot(loaded), TOKENS, max_body_bytes=2048)
    with TestClient(app) as c:
        yield c


def test_ping_is_503_before_a_model_and_200_after(loaded: LoadedModel) -> None:
    from starlette.testclient import TestClient

    slot = ModelSlot()
    with TestClient(create_app(slot, TOKENS)) as c:
        assert c.get("/ping").status_code == 503
        slot.swap(loaded)
        r = c.get("/ping")
        assert r.status_code == 200 and r.json()["model_version"] == "3"


def test_jsonlines_in_jsonlines_out_one_line_per_record(client) -> None:
    body = "\n".join(json.dumps({"id": i, "text": t}) for i, t in [("a", "great flight thanks"), ("b", "lost my bag")])
    r = client.post("/invocations", content=body, headers={**AUTH, "Content-Type": "application/jsonlines"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/jsonlines") and r.headers["x-model-version"] == "3"
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert [x["id"] for x in lines] == ["a", "b"]
    assert [x["label"] for x in lines] == ["positive", "negative"]
    assert all(x["model_version"] == "3" and abs(sum(x["probabilities"].values()) - 1) < 1e-4 for x in lines)


def test_csv_in_csv_out(client) -> None:
    body = "570306133677760513,,1.0,,,Delta,,bob,,0,love the crew,,2015-02-24 11:35:52 -0800,,\n"
    headers = {**AUTH, "Content-Type": "text/csv", "Accept": "text/csv"}
    r = client.post("/invocations", content=body, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/csv")
    row = r.text.strip().split(",")
    assert row[:2] == ["570306133677760513", "positive"] and row[3] == "3"


def test_a_bad_record_is_400_with_that_records_error(client) -> None:
    body = json.dumps({"id": "ok", "text": "great"}) + "\n{not json\n" + json.dumps({"id": "e", "text": ""})
    r = client.post("/invocations", content=body, headers={**AUTH, "Content-Type": "application/jsonlines"})
    assert r.status_code == 400
    payload = r.json()
    assert [e["record"] for e in payload["records"]] == [2, 3]
    assert "record 2 (line 2): not valid JSON" in payload["records"][0]["error"]
    assert "empty text" in payload["records"][1]["error"]
    assert payload["error"].startswith("2 of 3 record(s) cannot be scored")


def test_empty_body_and_unknown_types(client) -> None:
    assert client.post("/invocations", content=b"", headers={**AUTH, "Content-Type": "text/csv"}).status_code == 400
    r = client.post("/invocations", content=b"x", headers={**AUTH, "Content-Type": "application/pdf"})
    assert r.status_code == 415 and "application/pdf" in r.json()["error"]
    headers = {**AUTH, "Content-Type": "text/csv", "Accept": "image/png"}
    assert client.post("/invocations", content=b"x", headers=headers).status_code == 406


def test_a_body_above_the_limit_is_413_declared_or_streamed(client) -> None:
    big = b'{"text": "' + b"a" * 3000 + b'"}\n'
    headers = {**AUTH, "Content-Type": "application/jsonlines"}
    r = client.post("/invocations", content=big, headers=headers)
    assert r.status_code == 413 and "limit is 2048" in r.json()["error"]

    def chunks():  # no Content-Length: the limit is enforced while reading
        for _ in range(4):
            yield big[:1000]

    r = client.post("/invocations", content=chunks(), headers=headers)
    assert r.status_code == 413 and "exceeds the limit of 2048" in r.json()["error"]


def test_no_or_wrong_token_is_401_and_nothing_is_scored(client) -> None:
    body = json.dumps({"text": "great"})
    for headers in ({}, {"Authorization": "Bearer wrong-token-wrong-token"}, {"Authorization": TOKEN}):
        r = client.post("/invocations", content=body, headers={**headers, "Content-Type": "application/jsonlines"})
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert client.get("/metrics").status_code == 401
    scored = [ln for ln in client.get("/metrics", headers=AUTH).text.splitlines() if "records_total{" in ln]
    assert scored == []


def test_every_request_is_logged_and_counted(client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ml.serving.access")
    body = "\n".join(json.dumps({"text": t}) for t in ["great", "awful", "which gate"])
    client.post("/invocations", content=body, headers={**AUTH, "Content-Type": "application/jsonlines"})
    client.post("/invocations", content=body, headers={"Content-Type": "application/jsonlines"})
    entries = [json.loads(r.getMessage()) for r in caplog.records if r.name == "ml.serving.access"]
    ok, denied = entries
    assert ok["caller"] == "alice" and ok["records"] == 3 and ok["model_version"] == "3" and ok["status"] == 200
    assert ok["latency_ms"] > 0 and ok["time"].endswith("+00:00") and ok["client"]
    assert denied["caller"] == "anonymous" and denied["status"] == 401
    text = client.get("/metrics", headers=AUTH).text
    assert 'nlpops_serving_requests_total{model_version="3",path="/invocations",status="200"} 1.0' in text
    assert 'nlpops_serving_requests_total{model_version="",path="/invocations",status="401"} 1.0' in text
    assert 'nlpops_serving_records_total{model_version="3",outcome="scored"} 3.0' in text
    assert 'nlpops_serving_model_info{version="3"} 1.0' in text
    assert 'nlpops_serving_request_seconds_count{model_version="3"} 1.0' in text


def test_tokens_file_format_and_refusals() -> None:
    assert parse_tokens("# callers\nalice aaaaaaaaaaaaaaaa1\nbob bbbbbbbbbbbbbbbb2\n", "f") == {
        "aaaaaaaaaaaaaaaa1": "alice",
        "bbbbbbbbbbbbbbbb2": "bob",
    }
    assert parse_tokens("cccccccccccccccc3\n", "f") == {"cccccccccccccccc3": "default"}
    with pytest.raises(TokenError, match="line 1: the token of 'alice' is shorter than 16"):
        parse_tokens("alice short", "f")
    with pytest.raises(TokenError, match="no token"):
        parse_tokens("# nothing\n", "f")
    with pytest.raises(TokenError, match="no serving token configured"):
        create_app(ModelSlot(), {})


def test_a_champion_that_fails_to_load_keeps_the_old_one(loaded: LoadedModel) -> None:
    slot, metrics = ModelSlot(loaded), ServingMetrics()
    ref = ChampionRef("4", "file:///nowhere/model.tar.gz")
    calls = []

    def broken(r: ChampionRef) -> LoadedModel:
        calls.append(r)
        raise FileNotFoundError(r.artifact_uri)

    watcher = ChampionWatcher(lambda: ref, slot, poll_seconds=60, loader=broken)
    create_app(slot, TOKENS, watcher=watcher, metrics=metrics)
    assert watcher.check_once() is False and watcher.check_once() is False
    assert slot.current is loaded and len(calls) == 1  # not retried until the alias moves
    text = metrics.render()[0].decode()
    assert 'nlpops_serving_model_swaps_total{result="failed"} 1.0' in text
    assert 'nlpops_serving_model_info{version="3"} 1.0' in text


# --- hot swap under load, over a real socket ----------------------------------------------------


class _Server:
    def __init__(self, app) -> None:
        import uvicorn

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


class _Registry:
    """The registry calls the watcher makes (MlflowRegistry's own tests cover MLflow; its store costs ~10 s)."""

    def __init__(self) -> None:
        self.versions: list[ModelVersion] = []
        self.aliases: dict[str, str] = {}
        self.lock = threading.Lock()

    def register(self, profile: str, artifact_uri: str, metrics: dict, tags: dict) -> ModelVersion:
        with self.lock:
            mv = ModelVersion(profile, str(len(self.versions) + 1), artifact_uri, metrics, tags)
            self.versions.append(mv)
            return mv

    def set_alias(self, profile: str, alias: str, version: str) -> None:
        with self.lock:
            self.aliases[alias] = version

    def get_by_alias(self, profile: str, alias: str) -> ModelVersion | None:
        with self.lock:
            version = self.aliases.get(alias)
            return next((v for v in self.versions if v.version == version), None)


def test_hot_swap_to_a_newly_promoted_champion_under_load_fails_no_request(tmp_path: Path, lake: str) -> None:
    from ml.registry import CHAMPION
    from ml.serving.champion import registry_champion

    registry = _Registry()
    archives = []
    for n in (1, 2):
        archive = tmp_path / f"v{n}" / "model.tar.gz"
        pack_model_dir(make_model_dir(tmp_path / f"m{n}", version=None), archive.parent.mkdir() or archive)
        archives.append(archive.as_uri())
    v1 = registry.register("airline_tweets", archives[0], {"macro_f1": 0.5}, {"job_name": "t1"})
    registry.set_alias("airline_tweets", CHAMPION, v1.version)

    loading = threading.Event()

    def slow_loader(ref: ChampionRef) -> LoadedModel:
        if ref.version != v1.version:
            loading.set()
            time.sleep(0.5)  # requests keep being answered by v1 while v2 loads
        return load_champion(ref)

    slot = ModelSlot()
    watcher = ChampionWatcher(registry_champion(registry, "airline_tweets"), slot, poll_seconds=0.1, loader=slow_loader)
    app = create_app(slot, TOKENS, watcher=watcher)
    body = "\n".join(json.dumps({"id": i, "text": "great flight thanks"}) for i in range(5))
    failures: list[str] = []
    seen: list[list[tuple[float, str]]] = [[] for _ in range(8)]
    stop = threading.Event()

    def hammer(k: int, base: str) -> None:
        with httpx.Client(base_url=base, timeout=10, headers={**AUTH, "Content-Type": "application/jsonlines"}) as c:
            while not stop.is_set():
                try:
                    r = c.post("/invocations", content=body)
                except httpx.HTTPError as exc:
                    failures.append(repr(exc))
                    continue
                if r.status_code != 200 or len(r.text.splitlines()) != 5:
                    failures.append(f"{r.status_code} {r.text[:200]}")
                    continue
                versions = {json.loads(x)["model_version"] for x in r.text.splitlines()}
                if len(versions) != 1 or versions != {r.headers["x-model-version"]}:
                    failures.append(f"mixed versions in one response: {versions}")
                seen[k].append((time.monotonic(), versions.pop()))

    with _Server(app) as base:
        assert slot.current is not None and slot.current.version == v1.version
        workers = [threading.Thread(target=hammer, args=(k, base)) for k in range(len(seen))]
        for w in workers:
            w.start()
        time.sleep(0.5)
        v2 = registry.register("airline_tweets", archives[1], {"macro_f1": 0.6}, {"job_name": "t2"})
        promoted = time.monotonic()
        registry.set_alias("airline_tweets", CHAMPION, v2.version)
        deadline = time.monotonic() + 20
        while (slot.current is None or slot.current.version != v2.version) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        stop.set()
        for w in workers:
            w.join(timeout=30)

    assert failures == []
    assert loading.is_set() and slot.current is not None and slot.current.version == v2.version
    flat = sorted(x for per in seen for x in per)
    assert len(flat) > 50, f"too little load to prove anything: {len(flat)} requests"
    assert any(v == v1.version and t > promoted for t, v in flat), "no request was answered while v2 loaded"
    for per in seen:  # per client, once v2 answers, v1 never answers again
        versions = [v for _, v in per]
        assert v2.version in versions
        assert v1.version not in versions[versions.index(v2.version) :]


# --- the lean /invocations path -----------------------------------------------------------------


class _CountingPipeline:
    """The real pipeline; records the thread and the number of texts of each predict_proba call."""

    def __init__(self, real) -> None:
        self.real, self.calls = real, []

    def predict_proba(self, texts):
        self.calls.append((threading.current_thread().name, len(texts)))
        return self.real.predict_proba(texts)


def test_large_bodies_are_scored_off_the_event_loop_small_ones_inline(loaded: LoadedModel, monkeypatch) -> None:
    from starlette.testclient import TestClient

    spy = _CountingPipeline(loaded.model.pipeline)
    monkeypatch.setattr(loaded.model, "pipeline", spy)
    small = json.dumps({"id": "s", "text": "great flight thanks"}).encode()
    large = b"\n".join([small] * 4)
    headers = {**AUTH, "Content-Type": "application/jsonlines"}
    app = create_app(ModelSlot(loaded), TOKENS, inline_max_bytes=len(small))
    with TestClient(app) as c:
        loop_thread = c.portal.call(lambda: threading.current_thread().name)
        r_small = c.post("/invocations", content=small, headers=headers)
        r_large = c.post("/invocations", content=large, headers=headers)
    assert r_small.status_code == 200 and r_large.status_code == 200
    assert r_large.text == r_small.text * 4
    assert spy.calls[0] == (loop_thread, 1) and spy.calls[1][0] != loop_thread and spy.calls[1][1] == 4


def test_requests_ready_together_share_one_model_call_and_get_their_own_rows(model_dir: Path, monkeypatch) -> None:
    import asyncio

    v3, v4 = load_champion(ChampionRef("3", model_dir.as_uri())), load_champion(ChampionRef("4", model_dir.as_uri()))
    spies = {m.version: _CountingPipeline(m.model.pipeline) for m in (v3, v4)}
    for m in (v3, v4):
        monkeypatch.setattr(m.model, "pipeline", spies[m.version])
    slot = ModelSlot(v3)
    app = create_app(slot, TOKENS)
    texts = ["great flight thanks", "lost my bag, awful", "which gate for the flight", "love the crew", "delayed again"]
    headers = [(b"authorization", f"Bearer {TOKEN}".encode()), (b"content-type", b"application/jsonlines")]

    async def call(i: int) -> tuple[int, bytes]:
        body = json.dumps({"id": f"r{i}", "text": texts[i]}).encode()
        if i == 3:
            slot.swap(v4)  # a hot swap while the others wait for the model call: request 3 on are v4's
        sent: list[dict] = []

        async def receive():
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "path": "/invocations", "method": "POST", "headers": headers, "client": None}
        await app(scope, receive, send)
        return sent[0]["status"], sent[1]["body"]

    async def together():
        return await asyncio.gather(*(call(i) for i in range(len(texts))))

    answers = asyncio.run(together())
    assert [n for _, n in spies["3"].calls] == [3] and [n for _, n in spies["4"].calls] == [2]
    for i, (status, body) in enumerate(answers):
        got = json.loads(body)
        alone = loaded_predictions(v3, texts[i])
        assert status == 200 and got["id"] == f"r{i}" and got["model_version"] == ("3" if i < 3 else "4")
        assert (got["label"], got["probabilities"]) == (alone["label"], alone["probabilities"])


def loaded_predictions(loaded: LoadedModel, text: str) -> dict:
    from ml.inference import input_fn, predict_fn

    [entry] = predict_fn(input_fn(json.dumps({"text": text}), "application/jsonlines"), loaded.model)
    return entry


def test_invocations_answers_only_post(client) -> None:
    r = client.get("/invocations", headers=AUTH)
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    assert client.get("/nowhere").status_code == 404


def test_a_client_that_disconnects_mid_body_is_logged_not_scored(loaded: LoadedModel, caplog) -> None:
    import asyncio

    caplog.set_level(logging.INFO, logger="ml.serving.access")
    app = create_app(ModelSlot(loaded), TOKENS)
    messages = iter(
        [{"type": "http.request", "body": b'{"text": "gre', "more_body": True}, {"type": "http.disconnect"}]
    )
    sent: list[dict] = []

    async def receive():
        return next(messages)

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "path": "/invocations",
        "method": "POST",
        "headers": [(b"authorization", f"Bearer {TOKEN}".encode()), (b"content-type", b"application/jsonlines")],
        "client": ("127.0.0.1", 1),
    }
    asyncio.run(app(scope, receive, send))
    (entry,) = [json.loads(r.getMessage()) for r in caplog.records if r.name == "ml.serving.access"]
    assert entry["status"] == 499 and entry["caller"] == "alice" and "records" not in entry


def test_log_through_queue_writes_in_another_thread_and_flushes_on_stop() -> None:
    from ml.serving.app import log_through_queue

    written: list[tuple[str, str]] = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            written.append((threading.current_thread().name, record.getMessage()))

    logger = logging.getLogger("tests.serving.queue")
    logger.propagate, logger.level = False, logging.INFO
    logger.handlers = [Recorder()]
    listener = log_through_queue(logger)
    try:
        assert [type(h).__name__ for h in logger.handlers] == ["QueueHandler"]
        for n in range(50):
            logger.info("line %d", n)
    finally:
        listener.stop()
    assert [m for _, m in written] == [f"line {n}" for n in range(50)]
    assert {t for t, _ in written} and threading.current_thread().name not in {t for t, _ in written}
