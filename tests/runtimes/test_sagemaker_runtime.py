"""The SageMaker image contract: ``ml/train.py`` and the inference handler on the image's Python and packages.

``.venv-sagemaker`` is the project image's runtime (docker/sagemaker/Dockerfile): Python 3.12
and exactly ``docker/sagemaker/requirements.txt``. Training runs from the ``sourcedir.tar.gz``
the training operator uploads, with the arguments the training toolkit builds from the
request's hyper-parameters; scoring runs the entry of the scoring source archive. The model
it writes is then loaded and scored by the worker's ``ml/`` (this venv, Python 3.11): the
predictions must be identical, byte for byte.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from runtime_helpers import installed, run_in, runtime_python, tweets

from include import runtimes
from include.profiles import load_profile
from include.settings import PROJECT_ROOT

pytestmark = pytest.mark.realdata

SPLITS = {"train": (0, 700), "validation": (700, 850), "test": (850, 1000)}
SCORED = (1000, 1200)  # records the model never saw
MODEL_VERSION = "7"
SCORE = """
import json, sys
from pathlib import Path

import inference  # the entry of the scoring source archive (SAGEMAKER_PROGRAM), from the code dir

model_dir, body_file, out_file = sys.argv[1:4]
model = inference.model_fn(model_dir)
data = inference.input_fn(Path(body_file).read_bytes(), "application/jsonlines")
Path(out_file).write_bytes(inference.output_fn(inference.predict_fn(data, model), "application/jsonlines"))
"""


def _extract(archive: bytes, target: Path) -> Path:
    target.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        tar.extractall(target, filter="data")
    return target


def _channels(root: Path, profile, rows: list[dict[str, str]]) -> dict[str, Path]:
    """Processed-zone Parquet (id, text, label, content_hash) per channel, from the real records."""
    from ml.textnorm import content_hash_of

    channels = {}
    for split, (lo, hi) in SPLITS.items():
        frame = pd.DataFrame(
            [
                {
                    "id": r["tweet_id"],
                    "text": r["text"],
                    "label": profile.labels[r["airline_sentiment"]],
                    "content_hash": content_hash_of(r["text"]),
                }
                for r in rows[lo:hi]
            ]
        )
        folder = root / "input" / "data" / split
        folder.mkdir(parents=True)
        frame.to_parquet(folder / "part-00000.parquet", index=False)
        channels[split] = folder
    return channels


def test_the_sagemaker_venv_is_the_image_runtime():
    python = runtime_python(".venv-sagemaker")
    found = installed(python)
    assert found["python"] == runtimes.SAGEMAKER_PYTHON, f".venv-sagemaker runs Python {found['python']}"
    image = dict(line.split("==") for line in runtimes.IMAGE_REQUIREMENTS_FILE.read_text().splitlines() if "==" in line)
    image = {runtimes.canonical(k): v for k, v in image.items()}
    dists = {k: v for k, v in found["dists"].items() if k not in ("pip", "setuptools", "wheel")}
    assert dists == image, "the venv must hold exactly docker/sagemaker/requirements.txt (make runtime-venvs)"


def test_train_and_score_in_the_image_runtime_and_the_worker_predicts_the_same(shared_datasets, tmp_path):
    from ml.inference import input_fn, load_model, output_fn, predict_fn
    from nlpops.aws.sagemaker_config import (
        ENTRY_POINT,
        build_sourcedir,
        encode_hyperparameters,
        hyperparameter_strings,
        script_mode_hyperparameters,
        toolkit_arguments,
    )
    from nlpops.aws.sagemaker_transform_config import INFERENCE_ENTRY_POINT, build_inference_sourcedir

    python = runtime_python(".venv-sagemaker")
    profile = load_profile(PROJECT_ROOT / "include" / "profiles" / "airline_tweets.yaml")
    rows = tweets(shared_datasets, SCORED[1])
    channels = _channels(tmp_path, profile, rows)

    # training: the toolkit extracts sourcedir.tar.gz into /opt/ml/code and runs `python train.py <args>`
    code = _extract(build_sourcedir(), tmp_path / "code")
    hyperparameters = {"profile": profile.name, "classes": profile.classes, "min_df": 1, "char_ngram_max": 3}
    encoded = encode_hyperparameters(hyperparameter_strings(hyperparameters)) | script_mode_hyperparameters(
        submit_directory="s3://artifacts/sourcedir.tar.gz", region="eu-west-1", job_name="contract-train"
    )
    model_dir, output_dir = tmp_path / "model", tmp_path / "output" / "data"
    run_in(
        python,
        [ENTRY_POINT, *toolkit_arguments(encoded)],
        cwd=code,
        SM_MODEL_DIR=str(model_dir),
        SM_OUTPUT_DATA_DIR=str(output_dir),
        **{f"SM_CHANNEL_{name.upper()}": str(path) for name, path in channels.items()},
    )
    meta = json.loads((model_dir / "model.json").read_text())
    assert meta["classes"] == profile.classes and (output_dir / "confusion_test.png").is_file()

    # scoring: the serving container imports SAGEMAKER_PROGRAM from the scoring source archive
    serve = _extract(build_inference_sourcedir(profile.to_json()), tmp_path / "serve")
    assert (serve / INFERENCE_ENTRY_POINT).is_file()
    body = "".join(
        json.dumps({"tweet_id": r["tweet_id"], "text": r["text"]}) + "\n" for r in rows[SCORED[0] : SCORED[1]]
    )
    body += '{"tweet_id": "broken", "text": \n'  # a record that cannot be parsed is answered, not dropped
    (tmp_path / "batch.jsonl").write_text(body, encoding="utf-8")
    run_in(
        python,
        ["-c", SCORE, str(model_dir), str(tmp_path / "batch.jsonl"), str(tmp_path / "batch.jsonl.out")],
        cwd=serve,
        NLPOPS_MODEL_VERSION=MODEL_VERSION,
    )
    image_out = (tmp_path / "batch.jsonl.out").read_bytes()

    # the worker (Python 3.11, requirements.txt) loads the same model file and scores the same batch
    model = load_model(model_dir, profile=profile.to_json(), version=MODEL_VERSION)
    worker_out = output_fn(predict_fn(input_fn(body.encode(), "application/jsonlines"), model), "application/jsonlines")

    image_lines, worker_lines = image_out.decode().splitlines(), worker_out.decode().splitlines()
    assert len(image_lines) == len(worker_lines) == SCORED[1] - SCORED[0] + 1
    predictions = [json.loads(line) for line in image_lines]
    assert [p.get("id") for p in predictions[:-1]] == [r["tweet_id"] for r in rows[SCORED[0] : SCORED[1]]]
    assert "error" in predictions[-1] and {p.get("label") for p in predictions[:-1]} <= set(profile.classes)
    for i, (image_line, worker_line) in enumerate(zip(image_lines, worker_lines, strict=True)):
        assert image_line == worker_line, f"record {i + 1}: the image scored {image_line}, the worker {worker_line}"
