"""Local batch transform with SageMaker Batch Transform's file semantics (no Airflow, no AWS).

For every input object (``{"uri", "key", "etag", …}`` as the new-data sensor lists them):

* ``SplitType=Line``: the file is cut into records at line ends, never inside a quoted CSV
  field (the quote parity before a newline decides; ``""`` counts twice);
* ``BatchStrategy=MultiRecord`` + ``MaxPayloadInMB``: records are packed into requests
  (mini-batches) of at most that many bytes; ``SingleRecord`` sends one record a request;
  a single record larger than the payload is an error record (SageMaker would fail the job);
* each request goes through the handler exactly as in the container:
  ``output_fn(predict_fn(input_fn(body, content_type), model), accept)``;
* ``AssembleWith=Line``: the responses are concatenated in input order into
  ``<output>/<input key>.out``: line *i* answers data record *i* of the input (the CSV
  header is not a record). Bad records get an ``error`` line there and a detailed entry
  in ``<output>/errors/<input key>.jsonl`` (record, line, reason, raw text).

Memory is bounded whatever the file size: the file is read in blocks, at most
``2 × workers`` requests are in flight, and outputs are streamed to disk. ``workers``
processes (``forkserver``/``spawn``, never ``fork``) each load the model once via the
handler; ``workers=0`` scores in this process. The job writes under a hidden staging
prefix and publishes it with its manifest (``include.lake``-style), so a retry with the
same job name replaces its own output and readers never see half a job.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import posixpath
import signal
import sys
import tempfile
import time
import types
import uuid
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from multiprocessing import context as mp_context
from pathlib import Path
from typing import IO, Any, Literal

from ml.inference import CSV, JSONLINES, Model, input_fn, load_model, output_fn, predict_fn
from ml.records import first_record_end as _first_boundary
from ml.records import last_record_end as _last_boundary
from ml.textnorm import ROW_ID_HEX_CHARS, row_id_hasher

log = logging.getLogger(__name__)

MB = 1024 * 1024
MANIFEST = "_manifest.json"
ERRORS_DIR = "errors"
_READ_BLOCK = 1 * MB
_BOM = b"\xef\xbb\xbf"
_ERROR_RAW_CHARS = 2000
_SOURCE_KEYS = ("source_uri", "source_record")


class TransformError(RuntimeError):
    """The transform cannot run (bad input object, bad setting); the message says what to fix."""


class TransformStopped(TransformError):
    """:meth:`BatchTransform.stop` was called (task killed): the job's output was not published."""


# --- splitting a file into requests -----------------------------------------------------------


@dataclass
class Payload:
    """One request body: whole records, ``first_line`` is the 1-based file line it starts on."""

    body: bytes
    first_line: int


@dataclass
class Oversized:
    """A record larger than the payload limit: never sent, reported as an error record."""

    first_line: int
    size: int
    row_id: str
    head: bytes


def iter_payloads(
    fh: IO[bytes], max_bytes: int, *, quoting: bool = True, single_record: bool = False
) -> Iterator[Payload | Oversized]:
    """Cut the byte stream ``fh`` into requests of whole records, each at most ``max_bytes`` long.

    Reads ``fh`` in blocks; holds at most about ``max_bytes + 1 MiB`` at a time. A leading
    UTF-8 BOM is dropped. With ``single_record`` every request holds exactly one record.
    """
    if max_bytes < 1:
        raise TransformError(f"MaxPayloadInMB gives {max_bytes} bytes: it must be positive")
    buf = b""
    line = 1
    eof = False
    first = True
    while True:
        want = max_bytes + 1
        while not eof and len(buf) < want:
            chunk = fh.read(max(_READ_BLOCK, want - len(buf)))
            if not chunk:
                eof = True
                break
            if first:
                chunk = chunk.removeprefix(_BOM)
                first = False
            buf += chunk
        if not buf:
            return
        if single_record:
            cut, _ = _first_boundary(buf, 0, 0, quoting)
            if cut < 0 and eof:
                cut = len(buf)
            if 0 < cut <= max_bytes:
                if buf[:cut].strip():
                    yield Payload(buf[:cut], line)
                line += buf.count(b"\n", 0, cut)
                buf = buf[cut:]
                continue
        elif eof and len(buf) <= max_bytes:
            yield Payload(buf, line)
            return
        else:
            cut = _last_boundary(buf, max_bytes, quoting)
            if cut > 0:
                yield Payload(buf[:cut], line)
                line += buf.count(b"\n", 0, cut)
                buf = buf[cut:]
                continue
        # The first record alone is larger than a request: consume it without holding it all.
        oversized, buf, eof, newlines = _consume_record(fh, buf, eof, line, quoting)
        if oversized.size and oversized.head.strip():
            yield oversized
        line += newlines


def _consume_record(
    fh: IO[bytes], buf: bytes, eof: bool, line: int, quoting: bool
) -> tuple[Oversized, bytes, bool, int]:
    hasher = row_id_hasher()  # the one row id rule (ml.textnorm.row_id), fed in pieces
    head = b""
    size = 0
    newlines = 0
    quotes = 0
    held = b""  # the last bytes are held back: a record's terminator is not part of its id
    while True:
        end, quotes_after = _first_boundary(buf, 0, quotes, quoting)
        part = buf if end < 0 else buf[:end]
        newlines += part.count(b"\n")
        size += len(part)
        if len(head) < _ERROR_RAW_CHARS:
            head += part[: _ERROR_RAW_CHARS - len(head)]
        data = held + part
        held, data = data[-2:], data[:-2]
        hasher.update(data)
        if end >= 0 or eof:
            rest = b"" if end < 0 else buf[end:]
            break
        quotes = quotes_after
        buf = fh.read(_READ_BLOCK)
        if not buf:
            eof = True
            rest = b""
            break
    hasher.update(held.removesuffix(b"\n").removesuffix(b"\r"))
    return Oversized(line, size, hasher.hexdigest()[:ROW_ID_HEX_CHARS], head), rest, eof, newlines


# --- the handler in a worker ------------------------------------------------------------------

_MODEL: Model | None = None
_PRELOAD = ("ml.transform", "skops.io", "sklearn.pipeline", "sklearn.feature_extraction.text", "sklearn.linear_model")
_MODEL_ERROR: str | None = None
_MODEL_LOAD_SECONDS: float | None = None  # this worker's model_fn time, sent back with every result
_READY_AT: float | None = None  # wall clock (time.time) when this worker's model was loaded


def _process_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not: a SIGKILLed task stays one until its parent reaps it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no procfs: the signal test above is all there is


def _exit_with(job_pid: int, interval: float = 0.5) -> None:
    """Watchdog thread of a worker: leave at once when the job's process is gone (SIGKILL, OOM killer).
    The workers are not its children (forkserver), and their task queue never reaches EOF, so without
    this they would outlive a killed task."""
    while _process_alive(job_pid):
        time.sleep(interval)
    os._exit(1)


def _init_worker(
    model_dir: str, profile: dict[str, Any] | str | None, version: str | None, job_pid: int | None = None
) -> None:
    """Pool initializer: load the model once per process (errors are reported by the first request)."""
    global _MODEL, _MODEL_ERROR, _MODEL_LOAD_SECONDS, _READY_AT
    if job_pid is not None:
        import threading

        threading.Thread(target=_exit_with, args=(job_pid,), name="nlpops-job-watch", daemon=True).start()
    started = time.perf_counter()
    try:
        _MODEL = load_model(model_dir, profile=profile, version=version)
    except Exception as exc:  # a worker that dies in its initializer would break the pool for every request
        _MODEL_ERROR = f"{type(exc).__name__}: {exc}"
    _MODEL_LOAD_SECONDS = time.perf_counter() - started
    _READY_AT = time.time()


# --- starting workers without re-running the parent's __main__ --------------------------------
#
# A spawn/forkserver child re-runs the parent's ``__main__`` script (as ``__mp_main__``) before
# it unpickles its target. In an Airflow worker the task process is forked from the
# ``airflow`` CLI (``airflow scheduler`` for the LocalExecutor), so ``__main__`` is the
# console script, which imports ``airflow`` and runs ``settings.initialize()`` — and the task
# supervisor has replaced the database URL in the task process with
# ``airflow-db-not-allowed:///``. Every worker then died at start with SQLAlchemy's
# "Could not parse SQLAlchemy URL", the pool started another one, and the task ran forever.
# The workers need nothing from ``__main__`` (the handler lives in this module), so they are
# launched with a bare ``__main__`` in view: the preparation data names no main to re-run.


@contextmanager
def _main_hidden() -> Iterator[None]:
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


class _ForkServerWorker(mp_context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        with _main_hidden():
            return mp_context.ForkServerProcess._Popen(process_obj)


class _SpawnWorker(mp_context.SpawnProcess):
    @staticmethod
    def _Popen(process_obj: Any) -> Any:
        with _main_hidden():
            return mp_context.SpawnProcess._Popen(process_obj)


class _ForkServerContext(mp_context.ForkServerContext):
    Process = _ForkServerWorker


class _SpawnContext(mp_context.SpawnContext):
    Process = _SpawnWorker


def worker_context() -> Any:
    """The pool's context: ``forkserver`` (else ``spawn``), never ``fork``; workers skip ``__main__``."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        return _ForkServerContext()
    return _SpawnContext()


@dataclass
class RequestResult:
    """What one request gives back: the response body and its records' outcomes."""

    body: bytes
    records: int
    errors: list[dict[str, Any]]  # {"position", "line", "id", "error", "raw"}
    headers_skipped: int = 0  # header lines recognised by the handler and not scored
    worker: int = 0  # pid of the process that scored it
    model_load_seconds: float | None = None  # that worker's model load (model_fn) time
    ready_at: float | None = None  # wall clock when that worker had loaded the model


def score_request(body: bytes, content_type: str, accept: str, model: Model | None = None) -> RequestResult:
    """Run one request through the handler (``input_fn`` → ``predict_fn`` → ``output_fn``)."""
    model = model or _MODEL
    if model is None:
        raise TransformError(f"the model could not be loaded in the worker: {_MODEL_ERROR}")
    data = input_fn(body, content_type)
    predictions = predict_fn(data, model)
    errors = [
        {
            "position": i,
            "line": e["_line"],
            "id": e["id"],
            "error": e["error"],
            "raw": e["_raw"][:_ERROR_RAW_CHARS],
            **{k: e[k] for k in _SOURCE_KEYS if k in e},
        }
        for i, e in enumerate(predictions)
        if "error" in e
    ]
    return RequestResult(
        output_fn(predictions, accept),
        len(predictions),
        errors,
        data.headers_skipped,
        worker=os.getpid(),
        model_load_seconds=_MODEL_LOAD_SECONDS,
        ready_at=_READY_AT,
    )


# --- the job ----------------------------------------------------------------------------------


@dataclass
class FileResult:
    """Outcome of one input object."""

    uri: str
    key: str
    etag: str
    output_uri: str
    content_type: str
    records: int = 0
    scored: int = 0
    errors: int = 0
    requests: int = 0
    bytes_in: int = 0
    errors_uri: str | None = None
    headers_skipped: int = 0


@dataclass
class TransformSummary:
    """What a job did: counts, files and time (the operator's XCom)."""

    job_name: str
    output_uri: str
    records_in: int = 0
    scored: int = 0
    errors: int = 0
    files: int = 0
    requests: int = 0
    bytes_in: int = 0
    seconds: float = 0.0
    workers: int = 0
    max_payload_bytes: int = 0
    batch_strategy: str = "MultiRecord"
    accept: str = JSONLINES
    model_version: str = ""
    #: model load (``model_fn``) seconds, one per worker process, as measured inside it
    model_load_seconds: list[float] = field(default_factory=list)
    #: from the job's start until the first worker had loaded the model (pool start + imports + load)
    startup_seconds: float = 0.0
    file_results: list[FileResult] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def content_type_of(key: str, default: str = CSV) -> str:
    """The request content type of an input file, from its extension (``.jsonl`` → jsonlines)."""
    name = key.lower().removesuffix(".gz")
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return JSONLINES
    if name.endswith(".tsv"):
        return "text/tab-separated-values"
    if name.endswith((".csv", ".txt")):
        return CSV
    return default


class BatchTransform:
    """A local Batch Transform job over a pinned model directory.

    :param model_dir: an unpacked ``model.tar.gz`` (see :func:`prepare_model_dir`)
    :param profile: the profile JSON (dict) or name; default: what ``model.json`` records
    :param model_version: the registry version being scored (recorded on every prediction)
    :param max_payload_mb: ``MaxPayloadInMB`` (float allowed, for tests and benchmarks)
    :param workers: handler processes; 0 = score in this process
    :param batch_strategy: ``MultiRecord`` or ``SingleRecord``
    :param accept: ``application/jsonlines`` (what the results table reads) or ``text/csv``
    :param content_type: force the request content type (default: from each file's extension)
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        profile: dict[str, Any] | str | None = None,
        model_version: str | None = None,
        max_payload_mb: float = 6,
        workers: int = 1,
        batch_strategy: Literal["MultiRecord", "SingleRecord"] = "MultiRecord",
        accept: str = JSONLINES,
        content_type: str | None = None,
    ) -> None:
        if batch_strategy not in ("MultiRecord", "SingleRecord"):
            raise TransformError(f"BatchStrategy={batch_strategy!r}: use MultiRecord or SingleRecord")
        if workers < 0:
            raise TransformError(f"workers={workers}: use 0 (in process) or a positive number of processes")
        if not 0 < max_payload_mb <= 100:
            raise TransformError(f"MaxPayloadInMB={max_payload_mb}: SageMaker allows more than 0 and up to 100")
        self.model_dir = str(model_dir)
        self.profile = profile
        self.model_version = model_version
        self.max_payload_bytes = max(1, int(max_payload_mb * MB))
        self.workers = workers
        self.batch_strategy = batch_strategy
        self.accept = accept
        self.content_type = content_type
        self._pool: ProcessPoolExecutor | None = None
        self._stopped = False
        self._model: Model | None = None
        self._loads: dict[int, float] = {}  # worker pid -> model load seconds
        self._ready_at: float | None = None  # wall clock of the first loaded model

    # -- lifecycle --

    def stop(self) -> None:
        """Stop now: terminate the worker processes; :meth:`run` raises :class:`TransformStopped`."""
        self._stopped = True
        pool, self._pool = self._pool, None
        if pool is not None:
            _terminate(pool)

    def _start(self) -> None:
        if self.workers == 0:
            started = time.perf_counter()
            self._model = load_model(self.model_dir, profile=self.profile, version=self.model_version)
            self._loads[os.getpid()] = time.perf_counter() - started
            self._ready_at = time.time()
            self.model_version = self._model.version
            return
        # Never fork: the Airflow task process has threads (logging, heartbeats) a fork would copy mid-state.
        ctx = worker_context()
        if isinstance(ctx, mp_context.ForkServerContext):
            # The fork server imports the scoring stack once; workers fork from it already warm.
            ctx.set_forkserver_preload(list(_PRELOAD))
        # concurrent.futures, not multiprocessing.Pool: a worker killed mid-request (the OOM
        # killer's SIGKILL) breaks the executor and fails its futures; Pool would silently
        # start a new worker and wait for the lost request forever.
        self._pool = ProcessPoolExecutor(
            self.workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(self.model_dir, self.profile, self.model_version, os.getpid()),
        )
        if self.model_version is None:
            meta = json.loads((Path(self.model_dir) / "model.json").read_text(encoding="utf-8"))
            found = meta.get("version") or meta.get("model_version") or os.environ.get("NLPOPS_MODEL_VERSION")
            self.model_version = str(found or "unversioned")

    def _check(self) -> None:
        if self._stopped:
            raise TransformStopped("the batch transform was stopped before it finished; nothing was published")

    # -- the job --

    def run(self, inputs: Sequence[Mapping[str, Any]], output_uri: str, job_name: str) -> TransformSummary:
        """Score every object of ``inputs`` into ``output_uri`` (``inference-output/<profile>/<job>``).

        The output prefix is replaced as a whole when the job succeeds (a retry replaces its
        own output); a failed or stopped run leaves the previous output untouched.
        """
        from include import lake

        if not inputs:
            raise TransformError(f"job {job_name}: no input objects to score (the sensor's list is empty)")
        started = time.monotonic()
        started_wall = time.time()
        self._loads, self._ready_at = {}, None
        summary = TransformSummary(
            job_name=job_name,
            output_uri=output_uri,
            workers=self.workers,
            max_payload_bytes=self.max_payload_bytes,
            batch_strategy=self.batch_strategy,
            accept=self.accept,
        )
        lake.remove_stale_staging(output_uri)  # what a killed attempt of this job left
        staging = lake.staging_uri(output_uri)
        try:
            self._start()
            summary.model_version = str(self.model_version)
            for obj in inputs:
                self._check()
                result = self._transform_file(obj, staging, output_uri)
                summary.file_results.append(result)
                for name in ("records", "scored", "errors", "requests", "bytes_in"):
                    total = "records_in" if name == "records" else name
                    setattr(summary, total, getattr(summary, total) + getattr(result, name))
            summary.files = len(summary.file_results)
            summary.seconds = round(time.monotonic() - started, 3)
            summary.model_load_seconds = [round(v, 3) for v in self._loads.values()]
            if self._ready_at is not None:
                summary.startup_seconds = round(max(0.0, self._ready_at - started_wall), 3)
            self._check()
            lake.publish_dir(staging, output_uri, summary.to_dict())
        except BaseException:
            lake.remove(staging)
            pool, self._pool = self._pool, None
            if pool is not None:
                _terminate(pool)  # do not wait for requests nobody will read
            raise
        finally:
            pool, self._pool = self._pool, None
            if pool is not None:
                pool.shutdown(wait=True)
        log.info(
            "transform job %s: %d record(s), %d request(s), %d worker(s) in %.1fs; model load per worker %s s; "
            "first model ready after %.1fs",
            job_name,
            summary.records_in,
            summary.requests,
            self.workers,
            summary.seconds,
            summary.model_load_seconds,
            summary.startup_seconds,
        )
        return summary

    def _transform_file(self, obj: Mapping[str, Any], staging: str, output_uri: str) -> FileResult:
        from include import lake

        uri = obj.get("uri")
        if not uri:
            raise TransformError(f"input object {dict(obj)} has no 'uri': pass the sensor's object list")
        key = lake.safe_key(str(obj.get("key") or posixpath.basename(str(uri))))
        ctype = self.content_type or content_type_of(key)
        out_name = f"{key}.out"
        result = FileResult(
            uri=str(uri),
            key=key,
            etag=str(obj.get("etag") or ""),
            output_uri=lake.join(output_uri, out_name),
            content_type=ctype,
        )
        fs, in_path = lake.filesystem(str(uri))
        sfs, out_path = lake.filesystem(lake.join(staging, out_name))
        sfs.makedirs(posixpath.dirname(out_path), exist_ok=True)
        errors: list[dict[str, Any]] = []
        compression = "gzip" if key.lower().endswith(".gz") else None
        with fs.open(in_path, "rb", compression=compression) as fh, sfs.open(out_path, "wb") as out:
            payloads = iter_payloads(
                fh,
                self.max_payload_bytes,
                quoting=ctype != JSONLINES,
                single_record=self.batch_strategy == "SingleRecord",
            )
            pending: deque[tuple[int, int, Any]] = deque()
            limit = max(1, 2 * self.workers)
            for item in payloads:
                self._check()
                if isinstance(item, Oversized):
                    while pending:  # keep the output in input order
                        self._write(result, errors, *pending.popleft(), out)
                    self._write_oversized(result, errors, item, out)
                    continue
                result.requests += 1
                result.bytes_in += len(item.body)
                pending.append((item.first_line, result.requests, self._submit(item.body, ctype)))
                while len(pending) >= limit:
                    self._write(result, errors, *pending.popleft(), out)
            while pending:
                self._write(result, errors, *pending.popleft(), out)
        if errors:
            result.errors_uri = lake.join(output_uri, ERRORS_DIR, f"{key}.jsonl")
            lines = [json.dumps({"source_uri": result.uri, **e}, ensure_ascii=False) for e in errors]
            lake.write_text(lake.join(staging, ERRORS_DIR, f"{key}.jsonl"), "\n".join(lines) + "\n")
        return result

    def _submit(self, body: bytes, ctype: str) -> RequestResult | Future[RequestResult]:
        if self._pool is None:
            return score_request(body, ctype, self.accept, self._model)
        return self._pool.submit(score_request, body, ctype, self.accept)

    def _write(
        self,
        result: FileResult,
        errors: list[dict[str, Any]],
        first_line: int,
        request: int,
        pending: RequestResult | Future[RequestResult],
        out: Any,
    ) -> None:
        if isinstance(pending, RequestResult):
            res = pending
        else:
            res = _wait(pending, self, f"request {request} of {result.uri} (from line {first_line})")
        if res.model_load_seconds is not None and res.worker not in self._loads:
            self._loads[res.worker] = res.model_load_seconds
        if res.ready_at is not None and (self._ready_at is None or res.ready_at < self._ready_at):
            self._ready_at = res.ready_at
        out.write(res.body)
        for e in res.errors:
            errors.append(
                {
                    "record": result.records + e["position"] + 1,
                    "line": first_line + e["line"] - 1,
                    "id": e["id"],
                    "error": e["error"],
                    "raw": e["raw"],
                    # the user's input object and record, when the staged input carried them
                    **{k: e[k] for k in _SOURCE_KEYS if k in e},
                }
            )
        result.records += res.records
        result.headers_skipped += res.headers_skipped
        result.errors += len(res.errors)
        result.scored += res.records - len(res.errors)

    def _write_oversized(self, result: FileResult, errors: list[dict[str, Any]], item: Oversized, out: Any) -> None:
        message = (
            f"record at line {item.first_line} is {item.size} bytes, more than MaxPayloadInMB "
            f"({self.max_payload_bytes} bytes): raise the profile's inference.max_payload_mb or split the text"
        )
        entry = {"id": item.row_id, "error": message, "model_version": self.model_version}
        out.write(output_fn([entry], self.accept))
        result.records += 1
        result.errors += 1
        raw = item.head.decode("utf-8", errors="replace")
        errors.append(
            {"record": result.records, "line": item.first_line, "id": item.row_id, "error": message, "raw": raw}
        )


def _wait(future: Future[RequestResult], job: BatchTransform, request: str) -> RequestResult:
    """The result of ``request``; a worker that died (SIGKILL by the OOM killer) fails the job at once."""
    # Poll so that stop() from another thread (on_kill) is noticed while a request runs.
    while True:
        job._check()
        try:
            return future.result(timeout=0.5)
        except FutureTimeout:
            continue
        except BrokenProcessPool as exc:
            job._check()  # stop() terminates the workers too: that is a stop, not a crash
            raise TransformError(
                f"a transform worker process died while {request} was in flight{_exit_codes(job._pool)}; "
                "nothing was published. A SIGKILL (-9) is usually the out-of-memory killer: lower "
                "MaxPayloadInMB (the profile's inference.max_payload_mb) or the number of workers, "
                "or give the task more memory, then retry"
            ) from exc


def _exit_codes(pool: ProcessPoolExecutor | None) -> str:
    # The executor keeps its processes in a private dict; best effort, for the message only.
    codes = []
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        code = proc.exitcode
        if code is None or code == 0:
            continue
        try:
            how = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit {code}"
        except ValueError:
            how = f"exit {code}"
        codes.append(f"pid {proc.pid}: {how}")
    return f" ({'; '.join(codes)})" if codes else ""


def _terminate(pool: ProcessPoolExecutor) -> None:
    """Stop the workers now (the executor only offers a graceful shutdown before Python 3.14)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    for proc in processes:
        proc.join(timeout=10)


def prepare_model_dir(artifact_uri: str, workdir: str | Path | None = None) -> Path:
    """A local model directory for ``artifact_uri``: a ``model.tar.gz`` (unpacked safely) or a directory."""
    from include import lake
    from ml.artefact import ARCHIVE, MODEL_FILE, unpack_model_archive

    if artifact_uri.endswith(".tar.gz"):
        dest = Path(workdir or tempfile.mkdtemp(prefix="nlpops-model-")) / f"model-{uuid.uuid4().hex[:8]}"
        if not lake.exists(artifact_uri):
            raise TransformError(f"model artefact {artifact_uri} does not exist: check the registry version's URI")
        return unpack_model_archive(lake.read_bytes(artifact_uri), dest)
    if artifact_uri.startswith("file://"):
        path = Path(lake.local_path(artifact_uri))
        if (path / MODEL_FILE).is_file():
            return path
    raise TransformError(
        f"model artefact {artifact_uri!r} is neither a {ARCHIVE} nor a local directory with {MODEL_FILE}"
    )


def run_transform(
    artifact_uri: str,
    inputs: Sequence[Mapping[str, Any]],
    output_uri: str,
    job_name: str,
    **options: Any,
) -> TransformSummary:
    """One call: unpack the model artefact, run :class:`BatchTransform`, return its summary."""
    with tempfile.TemporaryDirectory(prefix="nlpops-transform-") as tmp:
        model_dir = prepare_model_dir(artifact_uri, tmp)
        return BatchTransform(model_dir, **options).run(inputs, output_uri, job_name)


__all__ = [
    "BatchTransform",
    "FileResult",
    "Oversized",
    "Payload",
    "RequestResult",
    "TransformError",
    "TransformStopped",
    "TransformSummary",
    "content_type_of",
    "iter_payloads",
    "prepare_model_dir",
    "run_transform",
    "score_request",
]
