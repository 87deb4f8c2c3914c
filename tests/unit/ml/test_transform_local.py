"""The local Batch Transform: naming, order, payload splitting, ids, errors, retries, workers."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from test_inference_support import make_model_dir

from include import lake as lk
from ml.textnorm import row_id_of
from ml.transform import BatchTransform, Oversized, Payload, TransformStopped, iter_payloads, run_transform


@pytest.fixture(scope="module")
def polarity_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_model_dir(tmp_path_factory.mktemp("pol") / "model", "amazon_polarity", version="5")


def _polarity_csv(n: int) -> str:
    rows = []
    for i in range(n):
        if i % 2:
            rows.append(f'1,"Bad {i}","terrible, delayed\nand awful {i}"')
        else:
            rows.append(f'2,"Good {i}","great ""thanks"" {i}"')
    return "\r\n".join(rows) + "\r\n"


def _put(root: str, key: str, data: str | bytes) -> dict:
    uri = lk.join(root, key)
    lk.write_bytes(uri, data.encode() if isinstance(data, str) else data)
    # The object as the new-data sensor lists it (uri, key relative to the profile's prefix, etag …).
    return next(o.to_dict() for o in lk.list_objects(root) if o.key == key)


def _read_out(summary, key: str) -> list[dict]:
    uri = lk.join(summary.output_uri, f"{key}.out")
    return [json.loads(x) for x in lk.read_bytes(uri).decode().splitlines()]


def test_payloads_never_split_a_quoted_field_and_respect_the_limit() -> None:
    data = _polarity_csv(40).encode()
    pieces = list(iter_payloads(io.BytesIO(b"\xef\xbb\xbf" + data), 200))
    assert all(isinstance(p, Payload) and len(p.body) <= 200 for p in pieces)
    assert b"".join(p.body for p in pieces) == data  # BOM dropped, nothing lost or repeated
    assert all(p.body.count(b'"') % 2 == 0 and p.body.endswith(b"\r\n") for p in pieces)
    lines = [p.first_line for p in pieces]
    assert lines[0] == 1 and lines == sorted(lines) and len(pieces) > 5


def test_a_record_larger_than_the_payload_is_reported_not_sent() -> None:
    big = '2,"t","' + "x" * 500 + '\nstill quoted"\n'
    pieces = list(iter_payloads(io.BytesIO(('2,"a","b"\n' + big + '1,"c","d"\n').encode()), 100))
    kinds = [type(p).__name__ for p in pieces]
    assert kinds == ["Payload", "Oversized", "Payload"]
    over = pieces[1]
    assert isinstance(over, Oversized) and over.first_line == 2 and over.size == len(big)
    assert over.row_id == row_id_of(big.rstrip("\n"))
    assert pieces[2].first_line == 4


def test_transform_names_orders_and_carries_ids(lake: str, polarity_dir: Path) -> None:
    root = lake + "/inference-input/amazon_polarity"
    objs = [_put(root, "2024/a.csv", _polarity_csv(30)), _put(root, "b.jsonl", '{"id":"x1","text":"great"}\n')]
    out_uri = lake + "/inference-output/amazon_polarity/job-1"
    job = BatchTransform(polarity_dir, max_payload_mb=300 / 1024 / 1024, workers=0)
    summary = job.run(objs, out_uri, "job-1")
    assert (summary.records_in, summary.scored, summary.errors, summary.files) == (31, 31, 0, 2)
    a = summary.file_results[0]
    assert a.output_uri == out_uri + "/2024/a.csv.out" and a.requests > 3  # 300-byte payloads: several requests
    assert summary.requests == a.requests + 1
    out = _read_out(summary, "2024/a.csv")
    assert [r["label"] for r in out] == ["positive", "negative"] * 15  # input order kept across requests
    raw_first = '2,"Good 0","great ""thanks"" 0"'
    assert out[0]["id"] == row_id_of(raw_first) and out[0]["model_version"] == "5"
    assert _read_out(summary, "b.jsonl")[0]["id"] == "x1"
    manifest = lk.read_json(out_uri + "/_manifest.json")
    assert manifest["records_in"] == 31 and manifest["job_name"] == "job-1"


def test_bad_records_go_to_the_errors_file_and_keep_their_line(lake: str, polarity_dir: Path) -> None:
    root = lake + "/inference-input/amazon_polarity"
    body = '2,"ok","great"\n1,2,3,4\n2,"t","' + "y" * 400 + '"\n1,"ok","awful"\n2,"unclosed,text\n'
    obj = _put(root, "bad.csv", body)
    summary = BatchTransform(polarity_dir, max_payload_mb=100 / 1024 / 1024, workers=0).run(
        [obj], lake + "/inference-output/amazon_polarity/j", "j"
    )
    assert (summary.records_in, summary.scored, summary.errors) == (5, 2, 3)
    out = _read_out(summary, "bad.csv")
    assert ["error" in r for r in out] == [False, True, True, False, True]  # one line per record
    errors = [json.loads(x) for x in lk.read_bytes(summary.file_results[0].errors_uri).decode().splitlines()]
    assert [(e["record"], e["line"]) for e in errors] == [(2, 2), (3, 3), (5, 5)]
    assert "4 field(s)" in errors[0]["error"] and "MaxPayloadInMB" in errors[1]["error"]
    assert errors[0]["raw"] == "1,2,3,4" and errors[0]["source_uri"] == obj["uri"]


def test_a_retry_replaces_its_own_output(lake: str, polarity_dir: Path) -> None:
    root = lake + "/inference-input/amazon_polarity"
    out_uri = lake + "/inference-output/amazon_polarity/job-r"
    first = _put(root, "one.csv", _polarity_csv(4))
    BatchTransform(polarity_dir, workers=0).run([first], out_uri, "job-r")
    second = _put(root, "two.csv", _polarity_csv(2))
    BatchTransform(polarity_dir, workers=0).run([second], out_uri, "job-r")
    fs, path = lk.filesystem(out_uri)
    names = sorted(Path(p).name for p in fs.find(path))
    assert names == ["_manifest.json", "two.csv.out"]
    parent = Path(lk.local_path(lake + "/inference-output/amazon_polarity"))
    assert sorted(p.name for p in parent.iterdir()) == ["job-r"]  # no staging left behind


def test_stop_before_run_publishes_nothing(lake: str, polarity_dir: Path) -> None:
    obj = _put(lake + "/inference-input/amazon_polarity", "s.csv", _polarity_csv(2))
    job = BatchTransform(polarity_dir, workers=0)
    job.stop()
    with pytest.raises(TransformStopped):
        job.run([obj], lake + "/inference-output/amazon_polarity/s", "s")
    assert not lk.exists(lake + "/inference-output/amazon_polarity/s")


def test_worker_processes_give_the_same_output(lake: str, polarity_dir: Path, tmp_path: Path) -> None:
    from ml.artefact import pack_model_dir

    archive = tmp_path / "model.tar.gz"
    pack_model_dir(polarity_dir, archive)
    obj = _put(lake + "/inference-input/amazon_polarity", "w.csv", _polarity_csv(40))
    payload = 250 / 1024 / 1024
    inproc = run_transform(
        archive.as_uri(), [obj], lake + "/inference-output/p/a", "a", workers=0, max_payload_mb=payload
    )
    pooled = run_transform(
        archive.as_uri(), [obj], lake + "/inference-output/p/b", "b", workers=2, max_payload_mb=payload
    )
    assert pooled.requests == inproc.requests > 5
    assert _read_out(pooled, "w.csv") == _read_out(inproc, "w.csv")


def test_a_model_that_cannot_load_fails_the_job_with_its_reason(lake: str, tmp_path: Path) -> None:
    model_dir = make_model_dir(tmp_path / "m", "amazon_polarity")
    (model_dir / "model.skops").write_bytes(b"\x80\x04pickle")
    obj = _put(lake + "/inference-input/amazon_polarity", "f.csv", _polarity_csv(2))
    with pytest.raises(Exception, match="not a skops archive"):
        BatchTransform(model_dir, workers=1).run([obj], lake + "/inference-output/p/f", "f")


@pytest.fixture
def hostile_main(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A parent ``__main__`` script that must never run in a worker (like the ``airflow`` console
    script in a task process, whose import fails there): it leaves a mark and exits."""
    import sys
    import types

    mark = tmp_path / "main-ran"
    script = tmp_path / "parent_main.py"
    script.write_text(f"import pathlib\npathlib.Path({str(mark)!r}).touch()\nraise SystemExit(3)\n")
    main = types.ModuleType("__main__")
    main.__file__ = str(script)
    monkeypatch.setitem(sys.modules, "__main__", main)
    return mark


def test_workers_never_rerun_the_parents_main(lake: str, polarity_dir: Path, hostile_main: Path) -> None:
    obj = _put(lake + "/inference-input/amazon_polarity", "m.csv", _polarity_csv(6))
    summary = BatchTransform(polarity_dir, workers=1).run([obj], lake + "/inference-output/p/m", "m")
    assert summary.scored == 6 and not hostile_main.exists()


@pytest.mark.timeout(120)
def test_a_worker_killed_mid_job_fails_the_job_instead_of_hanging(
    lake: str, polarity_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The OOM killer's SIGKILL of a worker: multiprocessing.Pool replaced the worker and waited
    for the lost request forever; the job must fail at once, name the request, publish nothing."""
    import os
    import signal

    from ml.transform import TransformError

    obj = _put(lake + "/inference-input/amazon_polarity", "k.csv", _polarity_csv(40))
    real_submit = BatchTransform._submit
    submitted = []

    def submit_then_kill(self: BatchTransform, body: bytes, ctype: str):  # type: ignore[no-untyped-def]
        pending = real_submit(self, body, ctype)
        submitted.append(pending)
        if len(submitted) == 2:  # the second request is in flight (or queued) when its worker dies
            for proc in list(self._pool._processes.values()):  # type: ignore[union-attr]
                os.kill(proc.pid, signal.SIGKILL)
        return pending

    monkeypatch.setattr(BatchTransform, "_submit", submit_then_kill)
    out = lake + "/inference-output/p/k"
    job = BatchTransform(polarity_dir, workers=1, max_payload_mb=250 / 1024 / 1024)
    with pytest.raises(TransformError, match=r"worker process died while request \d+ of .*k\.csv.*SIGKILL"):
        job.run([obj], out, "k")
    assert len(submitted) >= 2 and not lk.exists(out)
