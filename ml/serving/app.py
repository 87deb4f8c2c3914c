"""SageMaker's serving contract as an ASGI app (Starlette), over the batch handler (``ml/inference.py``).

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
(the name the token belongs to), client address, path, status, records, latency, model version;
the line and the metrics are written after the response is sent, and ``make serve`` puts the
log's handlers behind a queue (:func:`log_through_queue`) so the event loop never waits on stderr.
The model is read once per request from a :class:`~ml.serving.champion.ModelSlot`, so a hot
swap never changes the model under a request in flight.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import logging.handlers
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ml.inference import (
    ACCEPT_TYPES,
    CSV,
    JSONLINES,
    UnsupportedContentTypeError,
    canonical_content_type,
    fill_predictions,
    input_fn,
    output_fn,
    predict_fn,
    prepare_predictions,
)
from ml.serving.champion import ChampionWatcher, LoadedModel, ModelSlot

access_log = logging.getLogger("ml.serving.access")
log = logging.getLogger(__name__)

DEFAULT_MAX_BODY_BYTES = 6 * 1024 * 1024
#: Bodies up to this size are scored on the event loop (a few records: less than a thread hop costs).
DEFAULT_INLINE_MAX_BYTES = 16 * 1024
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


_Headers = Mapping[bytes, bytes]


def _headers(scope: Mapping[str, Any]) -> dict[bytes, bytes]:
    """The request's headers by lower-case name (ASGI sends them lower-cased); the first of repeats wins."""
    found: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        found.setdefault(name, value)
    return found


class ServingApp:
    """The ASGI app (see the module docstring); built by :func:`create_app`.

    ``POST /invocations`` is answered by a plain ASGI path (no router, middleware or request
    object: at single-record sizes those cost more than the handler itself); ``/ping``,
    ``/metrics``, 404/405 and the lifespan (which runs the watcher) go to a small Starlette app.
    Bodies up to ``inline_max_bytes`` are scored on the event loop (a thread hop costs more than
    scoring one record); larger ones in a worker thread, so the loop keeps answering ``/ping``.
    The access-log line and the metrics of a request are written after its response is sent.
    """

    def __init__(
        self,
        slot: ModelSlot,
        tokens: Mapping[str, str],
        *,
        max_body_bytes: int,
        inline_max_bytes: int,
        watcher: ChampionWatcher | None,
        metrics: ServingMetrics,
    ) -> None:
        if not tokens:
            raise TokenError("no serving token configured: the server refuses to run without one")
        self.slot, self.metrics, self.watcher = slot, metrics, watcher
        self.max_body_bytes, self.inline_max_bytes = max_body_bytes, inline_max_bytes
        self._tokens = [(t.encode(), c) for t, c in tokens.items()]
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
        self._rest = self._starlette()
        self._batcher = _Batcher()

    # --- ASGI entry -----------------------------------------------------------------------------

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"] == "/invocations":
            if scope["method"] == "POST":
                await self._invocations(scope, receive, send)
            else:
                await _send(
                    send, 405, _json({"error": "use POST /invocations"}), b"application/json", [(b"allow", b"POST")]
                )
            return
        await self._rest(scope, receive, send)

    def _starlette(self) -> Any:
        from contextlib import asynccontextmanager

        from starlette.applications import Starlette
        from starlette.concurrency import run_in_threadpool
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        watcher, metrics, slot = self.watcher, self.metrics, self.slot

        @asynccontextmanager
        async def lifespan(_: Any) -> Any:
            if watcher is not None:
                await run_in_threadpool(watcher.start)
            try:
                yield
            finally:
                if watcher is not None:
                    await run_in_threadpool(watcher.stop)

        async def ping(request: Request) -> Any:
            started = time.perf_counter()
            current = slot.current
            status = 200 if current is not None else 503
            self._record(request.scope, status, started, {"model_version": current.version if current else None})
            if current is None:
                return JSONResponse({"status": "no model loaded yet"}, status_code=503)
            return JSONResponse({"status": "ok", "model_version": current.version})

        async def metrics_endpoint(request: Request) -> Any:
            started = time.perf_counter()
            try:
                caller = self._caller(_headers(request.scope))
            except _Refused as exc:
                self._record(request.scope, exc.status, started, {"error": exc.body["error"]})
                return JSONResponse(exc.body, status_code=exc.status, headers={"WWW-Authenticate": "Bearer"})
            body, ctype = metrics.render()
            self._record(request.scope, 200, started, {"caller": caller})
            return Response(body, media_type=ctype)

        routes = [Route("/ping", ping, methods=["GET"]), Route("/metrics", metrics_endpoint, methods=["GET"])]
        return Starlette(routes=routes, lifespan=lifespan)

    # --- POST /invocations --------------------------------------------------------------------

    async def _invocations(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        started = time.perf_counter()
        fields: dict[str, Any] = {}
        headers = _headers(scope)
        try:
            fields["caller"] = self._caller(headers)
            loaded = self.slot.current  # read once: a swap does not affect this request
            if loaded is None:
                raise _Refused(503, "no model loaded yet: the registry has no champion or it failed to load")
            fields["model_version"] = loaded.version
            try:
                accept = canonical_content_type(
                    headers.get(b"accept", b"").decode("latin-1") or JSONLINES, ACCEPT_TYPES
                )
            except UnsupportedContentTypeError as exc:
                raise _Refused(406, str(exc).replace("415 Unsupported Media Type", "406 Not Acceptable")) from None
            content_type = headers.get(b"content-type", b"").decode("latin-1")
            try:
                canonical_content_type(content_type)
            except UnsupportedContentTypeError as exc:
                raise _Refused(415, str(exc)) from None
            body = await _read_body(headers, receive, self.max_body_bytes)
            fields["bytes"] = len(body)
            if len(body) <= self.inline_max_bytes:
                status, payload, n_records, n_errors = await self._score_batched(body, content_type, accept, loaded)
            else:
                from starlette.concurrency import run_in_threadpool

                status, payload, n_records, n_errors = await run_in_threadpool(
                    self._score, body, content_type, accept, loaded
                )
        except _Refused as exc:
            await self._refuse(scope, send, exc, started, fields)
            return
        except Exception:
            log.exception("POST /invocations failed")
            internal = _Refused(500, "internal error while scoring; see the server log")
            await self._refuse(scope, send, internal, started, fields)
            return
        fields.update(records=n_records, errors=n_errors)
        if status != 200:
            await self._refuse(scope, send, _Refused(status, **payload), started, fields)
            return
        ctype = b"text/csv; charset=utf-8" if accept == CSV else accept.encode()
        await _send(send, 200, payload["body"], ctype, [(b"x-model-version", loaded.version.encode())])
        self._record(scope, 200, started, fields)
        self.metrics.records.labels("scored", loaded.version).inc(n_records)

    async def _score_batched(
        self, body: bytes, content_type: str, accept: str, loaded: LoadedModel
    ) -> tuple[int, dict[str, Any], int, int]:
        predictions, scored, texts = prepare_predictions(input_fn(body, content_type), loaded.model)
        if texts:
            fill_predictions(scored, await self._batcher.predict_proba(loaded, texts), loaded.model)
        return self._outcome(predictions, accept, loaded)

    def _score(
        self, body: bytes, content_type: str, accept: str, loaded: LoadedModel
    ) -> tuple[int, dict[str, Any], int, int]:
        return self._outcome(predict_fn(input_fn(body, content_type), loaded.model), accept, loaded)

    def _outcome(
        self, predictions: list[dict[str, Any]], accept: str, loaded: LoadedModel
    ) -> tuple[int, dict[str, Any], int, int]:
        if not predictions:
            return 400, {"message": "the body holds no record (one record per line)"}, 0, 0
        bad = [(i, p) for i, p in enumerate(predictions, start=1) if "error" in p]
        if bad:
            self.metrics.records.labels("error", loaded.version).inc(len(bad))
            errors = [{"record": i, "id": p.get("id"), "error": p["error"]} for i, p in bad]
            message = f"{len(bad)} of {len(predictions)} record(s) cannot be scored: {bad[0][1]['error']}"
            return 400, {"message": message, "records": errors}, len(predictions), len(bad)
        return 200, {"body": output_fn(predictions, accept)}, len(predictions), 0

    # --- shared -------------------------------------------------------------------------------

    def _caller(self, headers: _Headers) -> str:
        header = headers.get(b"authorization", b"")
        scheme, _, given = header.partition(b" ")
        given = given.strip()
        if scheme.lower() != b"bearer" or not given:
            raise _Refused(401, "a bearer token is required: send 'Authorization: Bearer <token>'")
        found = None
        for token, caller in self._tokens:  # compare with every token: no early exit to time
            if hmac.compare_digest(token, given):
                found = caller
        if found is None:
            raise _Refused(401, "the bearer token is not accepted")
        return found

    async def _refuse(
        self, scope: dict[str, Any], send: Any, exc: _Refused, started: float, fields: dict[str, Any]
    ) -> None:
        extra = [(b"www-authenticate", b"Bearer")] if exc.status == 401 else []
        await _send(send, exc.status, _json(exc.body), b"application/json", extra)
        self._record(scope, exc.status, started, {**fields, "error": exc.body["error"]})

    def _record(self, scope: Mapping[str, Any], status: int, started: float, fields: dict[str, Any]) -> None:
        latency = time.perf_counter() - started
        path = scope["path"]
        version = fields.get("model_version") or ""
        self.metrics.requests.labels(path, str(status), version).inc()
        if path == "/invocations" and version:
            self.metrics.latency.labels(version).observe(latency)
        if not access_log.isEnabledFor(logging.INFO):
            return
        client = scope.get("client")
        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "caller": fields.pop("caller", None) or "anonymous",
            "client": client[0] if client else None,
            "method": scope["method"],
            "path": path,
            "status": status,
            "latency_ms": round(latency * 1000, 3),
            **fields,
        }
        access_log.info(json.dumps(entry, separators=(",", ":")))


class _Batcher:
    """One ``predict_proba`` call for the texts of every request that reached scoring in one event-loop turn.

    A request's texts are queued with a future; the first one schedules a flush with
    ``call_soon``, which runs after the other request tasks the loop had ready. Under load that
    is several requests per call (a call on 8 records costs about 1.4 times one on 1 record);
    alone, a request waits one loop turn. Requests are grouped by the model object they read
    from the slot, so a hot swap between two requests never scores one with the other's model.
    """

    def __init__(self) -> None:
        self._pending: list[tuple[LoadedModel, list[str], asyncio.Future[Any]]] = []

    def predict_proba(self, loaded: LoadedModel, texts: list[str]) -> asyncio.Future[Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((loaded, texts, future))
        return future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        groups: dict[int, list[tuple[LoadedModel, list[str], asyncio.Future[Any]]]] = {}
        for item in pending:
            groups.setdefault(id(item[0]), []).append(item)
        for items in groups.values():
            texts = [t for _, part, _ in items for t in part]
            try:
                proba = items[0][0].model.pipeline.predict_proba(texts)
            except Exception as exc:  # every request of the call fails with it (500, logged)
                for _, _, future in items:
                    if not future.done():
                        future.set_exception(exc)
                continue
            start = 0
            for _, part, future in items:
                if not future.done():
                    future.set_result(proba[start : start + len(part)])
                start += len(part)


def create_app(
    slot: ModelSlot,
    tokens: Mapping[str, str],
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    inline_max_bytes: int = DEFAULT_INLINE_MAX_BYTES,
    watcher: ChampionWatcher | None = None,
    metrics: ServingMetrics | None = None,
) -> ServingApp:
    """The ASGI app serving ``slot``'s model; ``watcher`` (if given) runs for the app's lifetime.

    ``tokens`` maps each accepted bearer token to its caller's name (see :func:`parse_tokens`).
    """
    return ServingApp(
        slot,
        tokens,
        max_body_bytes=max_body_bytes,
        inline_max_bytes=inline_max_bytes,
        watcher=watcher,
        metrics=metrics or ServingMetrics(),
    )


def log_through_queue(logger: logging.Logger | None = None) -> logging.handlers.QueueListener:
    """Move ``logger``'s handlers (default: the root's) behind a queue; the returned listener writes in a thread.

    The event loop then only formats and enqueues a log record: a slow or blocked stderr (a full
    pipe, a terminal being scrolled) never stalls request handling. Call ``listener.stop()`` at exit
    to flush what is queued.
    """
    import logging.handlers
    import queue

    target = logger or logging.getLogger()
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    listener = logging.handlers.QueueListener(records, *target.handlers, respect_handler_level=True)
    target.handlers = [logging.handlers.QueueHandler(records)]
    listener.start()
    return listener


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


async def _send(send: Any, status: int, body: bytes, content_type: bytes, extra: list[tuple[bytes, bytes]]) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _read_body(headers: _Headers, receive: Any, limit: int) -> bytes:
    declared = headers.get(b"content-length")
    if declared is not None:
        try:
            size = int(declared)
        except ValueError:
            raise _Refused(400, f"Content-Length {declared.decode('latin-1')!r} is not a number") from None
        if size > limit:
            raise _Refused(413, f"the body is {size} bytes; the limit is {limit} (NLPOPS_SERVING_MAX_BODY_BYTES)")
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Refused(499, "the client disconnected before sending the whole body")
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise _Refused(413, f"the body exceeds the limit of {limit} bytes (NLPOPS_SERVING_MAX_BODY_BYTES)")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


__all__ = [
    "DEFAULT_INLINE_MAX_BYTES",
    "DEFAULT_MAX_BODY_BYTES",
    "ServingApp",
    "ServingMetrics",
    "TokenError",
    "create_app",
    "log_through_queue",
    "parse_tokens",
    "read_token_file",
]
