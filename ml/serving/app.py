"""SageMaker's serving contract as a FastAPI app, over the batch handler (``ml/inference.py``).

* ``GET /ping`` — 200 when a model is loaded, else 503 (what SageMaker's health check expects).
  It needs no token: health checks carry none.
* ``POST /invocations`` — ``Content-Type`` ``text/csv`` or ``application/jsonlines`` (and the
  handler's aliases), ``Accept`` ``application/jsonlines`` (default) or ``text/csv``; the body
  goes through ``input_fn → predict_fn → output_fn`` exactly as in a batch transform, so one
  record per line in, one line per record out. Errors: 401 without a valid bearer token, 413
  for a body above ``max_body_bytes`` (checked before the body is read when a length is sent,
  and while reading otherwise), 415/406 for content/accept types the handler does not speak,
  400 when any record cannot be scored (the body lists each bad record with its error), 503
  before a model is loaded.
* ``GET /metrics`` — Prometheus text format (token required): requests by status and model
  version, records scored and refused, latency histogram, model swaps, the version served.

Every request is logged as one JSON line on the ``ml.serving.access`` logger: time, caller
(the name the token belongs to), client address, path, status, records, latency, model version.
The model is read once per request from a :class:`~ml.serving.champion.ModelSlot`, so a hot
swap never changes the model under a request in flight.
"""

from __future__ import annotations

import hmac
import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request  # at module level: FastAPI resolves the endpoints' annotations here

from ml.inference import (
    ACCEPT_TYPES,
    JSONLINES,
    UnsupportedContentTypeError,
    canonical_content_type,
    input_fn,
    output_fn,
    predict_fn,
)
from ml.serving.champion import ChampionWatcher, LoadedModel, ModelSlot

access_log = logging.getLogger("ml.serving.access")
log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024
_LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class TokenError(ValueError):
    """The token file or setting cannot be used; the message names it."""


def parse_tokens(text: str, source: str) -> dict[str, str]:
    """Tokens from a file's text: ``<caller> <token>`` per line, or one bare token (caller ``default``).

    Blank lines and ``#`` comments are skipped. Returns ``{token: caller}``.
    """
    tokens: dict[str, str] = {}
    lines = [(n, line.strip()) for n, line in enumerate(text.splitlines(), start=1)]
    lines = [(n, line) for n, line in lines if line and not line.startswith("#")]
    for n, line in lines:
        parts = line.split()
        if len(parts) == 1 and len(lines) == 1:
            caller, token = "default", parts[0]
        elif len(parts) == 2:
            caller, token = parts
        else:
            raise TokenError(f"{source} line {n}: expected '<caller> <token>' (or a single bare token in the file)")
        if len(token) < 16:
            raise TokenError(f"{source} line {n}: the token of {caller!r} is shorter than 16 characters")
        tokens[token] = caller
    if not tokens:
        raise TokenError(f"{source}: no token in it; write '<caller> <token>' lines")
    return tokens


def read_token_file(path: str | Path) -> dict[str, str]:
    """:func:`parse_tokens` of the file at ``path``."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise TokenError(
            f"token file {path}: {exc.strerror}; set NLPOPS_SERVING_TOKEN_FILE to a readable file"
        ) from None
    return parse_tokens(text, f"token file {path}")


class ServingMetrics:
    """The server's Prometheus metrics, in a registry of their own (several apps per process in tests)."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "nlpops_serving_requests",
            "Requests by path, status and model version",
            ["path", "status", "model_version"],
            registry=self.registry,
        )
        self.records = Counter(
            "nlpops_serving_records",
            "Records by outcome (scored, error) and model version",
            ["outcome", "model_version"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "nlpops_serving_request_seconds",
            "Request latency of /invocations",
            ["model_version"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.swaps = Counter(
            "nlpops_serving_model_swaps", "Champion loads by result (ok, failed)", ["result"], registry=self.registry
        )
        self.model_info = Gauge(
            "nlpops_serving_model_info", "1 for the model version being served", ["version"], registry=self.registry
        )

    def serving(self, version: str) -> None:
        """Mark ``version`` as the one served (the gauge holds exactly one label set)."""
        self.model_info.clear()
        self.model_info.labels(version).set(1)

    def swapped(self, old: LoadedModel | None, new: LoadedModel) -> None:
        self.serving(new.version)
        self.swaps.labels("ok").inc()

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class _Refused(Exception):
    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.body = status, {"error": message, **extra}


def create_app(
    slot: ModelSlot,
    tokens: Mapping[str, str],
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    watcher: ChampionWatcher | None = None,
    metrics: ServingMetrics | None = None,
) -> Any:
    """The FastAPI app serving ``slot``'s model; ``watcher`` (if given) runs for the app's lifetime.

    ``tokens`` maps each accepted bearer token to its caller's name (see :func:`parse_tokens`).
    """
    from contextlib import asynccontextmanager

    from fastapi import FastAPI
    from fastapi.responses import JSONResponse, Response
    from starlette.concurrency import run_in_threadpool

    if not tokens:
        raise TokenError("no serving token configured: the server refuses to run without one")
    metrics = metrics or ServingMetrics()
    slot.on_swap(metrics.swapped)
    if slot.current is not None:
        metrics.serving(slot.current.version)
    if watcher is not None:
        previous = watcher.on_failure

        def _failed(ref: Any, exc: BaseException) -> None:
            metrics.swaps.labels("failed").inc()
            if previous is not None:
                previous(ref, exc)

        watcher.on_failure = _failed
    token_items = [(t.encode(), c) for t, c in tokens.items()]

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        if watcher is not None:
            await run_in_threadpool(watcher.start)
        try:
            yield
        finally:
            if watcher is not None:
                await run_in_threadpool(watcher.stop)

    app = FastAPI(title="nlpops serving", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.slot, app.state.metrics = slot, metrics

    def caller_of(request: Request) -> str:
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise _Refused(401, "a bearer token is required: send 'Authorization: Bearer <token>'")
        found = None
        for token, caller in token_items:  # compare with every token: no early exit to time
            if hmac.compare_digest(token, given.strip().encode()):
                found = caller
        if found is None:
            raise _Refused(401, "the bearer token is not accepted")
        return found

    def record(request: Request, status: int, started: float, **fields: Any) -> None:
        latency = time.perf_counter() - started
        version = fields.get("model_version") or ""
        metrics.requests.labels(request.url.path, str(status), version).inc()
        if request.url.path == "/invocations" and version:
            metrics.latency.labels(version).observe(latency)
        if not access_log.isEnabledFor(logging.INFO):
            return
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "caller": fields.pop("caller", None) or "anonymous",
            "client": request.client.host if request.client else None,
            "method": request.method,
            "path": request.url.path,
            "status": status,
            "latency_ms": round(latency * 1000, 3),
            **fields,
        }
        access_log.info(json.dumps(entry, separators=(",", ":")))

    def refused(request: Request, exc: _Refused, started: float, **fields: Any) -> Any:
        record(request, exc.status, started, error=exc.body["error"], **fields)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(exc.body, status_code=exc.status, headers=headers)

    @app.get("/ping")
    async def ping(request: Request) -> Any:
        started = time.perf_counter()
        current = slot.current
        status = 200 if current is not None else 503
        record(request, status, started, model_version=current.version if current else None)
        if current is None:
            return JSONResponse({"status": "no model loaded yet"}, status_code=503)
        return JSONResponse({"status": "ok", "model_version": current.version})

    @app.get("/metrics")
    async def metrics_endpoint(request: Request) -> Any:
        started = time.perf_counter()
        try:
            caller = caller_of(request)
        except _Refused as exc:
            return refused(request, exc, started)
        body, ctype = metrics.render()
        record(request, 200, started, caller=caller)
        return Response(body, media_type=ctype)

    @app.post("/invocations")
    async def invocations(request: Request) -> Any:
        started = time.perf_counter()
        fields: dict[str, Any] = {}
        try:
            fields["caller"] = caller_of(request)
            loaded = slot.current  # read once: a swap does not affect this request
            if loaded is None:
                raise _Refused(503, "no model loaded yet: the registry has no champion or it failed to load")
            fields["model_version"] = loaded.version
            try:
                accept = canonical_content_type(request.headers.get("accept") or JSONLINES, ACCEPT_TYPES)
            except UnsupportedContentTypeError as exc:
                raise _Refused(406, str(exc).replace("415 Unsupported Media Type", "406 Not Acceptable")) from None
            content_type = request.headers.get("content-type") or ""
            try:
                canonical_content_type(content_type)
            except UnsupportedContentTypeError as exc:
                raise _Refused(415, str(exc)) from None
            body = await _read_body(request, max_body_bytes)
            fields["bytes"] = len(body)
            status, payload, n_records, n_errors = await run_in_threadpool(_score, body, content_type, accept, loaded)
        except _Refused as exc:
            return refused(request, exc, started, **fields)
        except Exception:
            log.exception("POST /invocations failed")
            return refused(
                request, _Refused(500, "internal error while scoring; see the server log"), started, **fields
            )
        fields.update(records=n_records, errors=n_errors)
        if status != 200:
            return refused(request, _Refused(status, **payload), started, **fields)
        record(request, 200, started, **fields)
        metrics.records.labels("scored", loaded.version).inc(n_records)
        return Response(payload["body"], media_type=accept, headers={"X-Model-Version": loaded.version})

    def _score(
        body: bytes, content_type: str, accept: str, loaded: LoadedModel
    ) -> tuple[int, dict[str, Any], int, int]:
        predictions = predict_fn(input_fn(body, content_type), loaded.model)
        bad = [(i, p) for i, p in enumerate(predictions, start=1) if "error" in p]
        if not predictions:
            return 400, {"message": "the body holds no record (one record per line)"}, 0, 0
        if bad:
            metrics.records.labels("error", loaded.version).inc(len(bad))
            errors = [{"record": i, "id": p.get("id"), "error": p["error"]} for i, p in bad]
            message = f"{len(bad)} of {len(predictions)} record(s) cannot be scored: {bad[0][1]['error']}"
            return 400, {"message": message, "records": errors}, len(predictions), len(bad)
        return 200, {"body": output_fn(predictions, accept)}, len(predictions), 0

    return app


async def _read_body(request: Any, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise _Refused(400, f"Content-Length {declared!r} is not a number") from None
        if size > limit:
            raise _Refused(413, f"the body is {size} bytes; the limit is {limit} (NLPOPS_SERVING_MAX_BODY_BYTES)")
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise _Refused(413, f"the body exceeds the limit of {limit} bytes (NLPOPS_SERVING_MAX_BODY_BYTES)")
        chunks.append(chunk)
    return b"".join(chunks)


__all__ = ["DEFAULT_MAX_BODY_BYTES", "ServingMetrics", "TokenError", "create_app", "parse_tokens", "read_token_file"]
