"""The SageMaker image, checked without Docker: hadolint, its base, its pins, what it copies, the push script.

Its package set itself is exercised by test_sagemaker_runtime.py (.venv-sagemaker).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from include import runtimes
from include.settings import PROJECT_ROOT

IMAGE_DIR = PROJECT_ROOT / "docker" / "sagemaker"
DOCKERFILE = IMAGE_DIR / "Dockerfile"
HADOLINT = PROJECT_ROOT / ".venv-iac" / "bin" / "hadolint"


def instructions(text: str) -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` of a Dockerfile, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#")))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    if not HADOLINT.exists():
        pytest.fail(f"{HADOLINT} is missing: build the tool venv with `make iac-tools` (make test does)")
    config = IMAGE_DIR / "hadolint.yaml"
    return subprocess.run(
        [str(HADOLINT), "--no-color", "--config", str(config), str(path)], capture_output=True, text=True, timeout=60
    )


def test_hadolint_passes_and_does_catch_a_bad_dockerfile(tmp_path):
    result = hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install scikit-learn\n")  # floating base, unpinned package
    result = hadolint(bad)
    assert result.returncode != 0 and "DL3007" in result.stdout and "DL3013" in result.stdout, result.stdout


def test_the_base_is_a_pinned_python_of_the_image_runtime():
    (base,) = [args for word, args in instructions(DOCKERFILE.read_text()) if word == "FROM"]
    match = re.fullmatch(r"python:(\d+)\.(\d+)\.(\d+)-slim-[a-z]+(@sha256:[0-9a-f]{64})?", base)
    assert match, f"FROM {base}: pin the patch release (python:3.12.N-slim-<debian>), never a floating tag"
    assert f"{match.group(1)}.{match.group(2)}" == runtimes.SAGEMAKER_PYTHON


def test_the_labels_carry_the_workers_pins():
    labels = {}
    for word, args in instructions(DOCKERFILE.read_text()):
        if word == "LABEL":
            labels.update(dict(item.split("=", 1) for item in shlex.split(args)))
    expected = runtimes.image_labels()
    assert {k: v for k, v in labels.items() if k.startswith(runtimes.LABEL_PREFIX)} == expected
    assert set(expected) == {f"{runtimes.LABEL_PREFIX}{n}" for n in ("scikit-learn", "skops", "numpy", "scipy")}
    assert labels["nlpops.python"] == runtimes.SAGEMAKER_PYTHON


def test_the_image_requirements_are_requirements_txt_pins():
    text = runtimes.IMAGE_REQUIREMENTS_FILE.read_text()
    assert text == runtimes.IMAGE_REQUIREMENTS_HEADER + "\n".join(runtimes.image_requirements()) + "\n", (
        "docker/sagemaker/requirements.txt is stale: run `make sagemaker-image-requirements`"
    )
    pins = runtimes.requirement_pins()
    image = dict(ln.split("==") for ln in text.splitlines() if ln and not ln.startswith("#"))
    for name, version in image.items():
        assert pins[runtimes.canonical(name)] == version, name
    assert {runtimes.canonical(n) for n in runtimes.MODEL_PINS} <= {runtimes.canonical(n) for n in image}
    # what the image must not carry: the worker's orchestration stack
    assert not {"apache-airflow", "great-expectations", "mlflow", "pyspark"} & {runtimes.canonical(n) for n in image}


def test_the_image_installs_exactly_those_pins_and_holds_the_code():
    steps = instructions(DOCKERFILE.read_text())
    runs = " ".join(args for word, args in steps if word == "RUN")
    copies = [args.split() for word, args in steps if word == "COPY"]
    assert "pip install --no-deps -r /opt/nlpops/requirements.txt" in runs  # no resolver choices
    assert "pip install -c /opt/nlpops/requirements.txt -r /opt/nlpops/toolkit.txt" in runs  # toolkits keep the pins
    assert "pip check" in runs
    assert ["docker/sagemaker/requirements.txt", "docker/sagemaker/toolkit.txt", "/opt/nlpops/"] in copies
    assert ["ml", "/opt/nlpops/ml"] in copies  # network isolation: the code is in the image
    assert ["docker/sagemaker/nlpops_serving", "/opt/nlpops/nlpops_serving"] in copies
    assert "/usr/local/bin/serve" in runs and "nlpops_serving.serve" in runs
    for line in (IMAGE_DIR / "toolkit.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            assert runtimes.EXACT_PIN.match(line), f"toolkit.txt: {line!r} is not name==version"
    for path in (IMAGE_DIR / "nlpops_serving").glob("*.py"):
        compile(path.read_text(), str(path), "exec")


def test_make_sagemaker_image_prints_the_setting_and_tags_by_content(tmp_path):
    sys.path.insert(0, str(PROJECT_ROOT / "scripts"))
    try:
        import sagemaker_image
    finally:
        sys.path.remove(str(PROJECT_ROOT / "scripts"))
    uri = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/nlpops-sagemaker"
    out = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "scripts" / "sagemaker_image.py"), "--repository-uri", uri, "--dry-run"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.splitlines()
    tag = sagemaker_image.image_tag()
    assert out[0].startswith("docker build") and f"-t {uri}:{tag}" in out[0] and out[0].endswith(" .")
    assert out[-1] == f"NLPOPS_SAGEMAKER_IMAGE_URI={uri}:{tag}"
    # the tag is the content: another byte in ml/ gives another tag
    copy = tmp_path / "root"
    for rel in (*sagemaker_image.IMAGE_INPUTS, *sagemaker_image.IMAGE_PACKAGES):
        src = PROJECT_ROOT / rel
        if src.is_dir():
            for f in sagemaker_image.image_files(PROJECT_ROOT):
                if f.is_relative_to(src):
                    (copy / f.relative_to(PROJECT_ROOT)).parent.mkdir(parents=True, exist_ok=True)
                    (copy / f.relative_to(PROJECT_ROOT)).write_bytes(f.read_bytes())
        else:
            (copy / rel).parent.mkdir(parents=True, exist_ok=True)
            (copy / rel).write_bytes(src.read_bytes())
    assert sagemaker_image.image_tag(copy) == tag
    (copy / "ml" / "train.py").write_text((copy / "ml" / "train.py").read_text() + "\n")
    assert sagemaker_image.image_tag(copy) != tag
