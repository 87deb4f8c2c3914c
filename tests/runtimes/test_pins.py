"""Pins that cross into a remote runtime: the Glue module list and the SageMaker image's packages."""

from __future__ import annotations

from pathlib import Path

import pytest
from runtime_helpers import glue_operator

from include import runtimes
from include.profiles import AwsSpec, ProfileError, load_profile
from include.settings import PROJECT_ROOT


def test_glue_modules_the_operator_sends_are_exact_pins_of_requirements_txt():
    value = glue_operator().job_config["DefaultArguments"]["--additional-python-modules"]
    pins = runtimes.requirement_pins()
    parsed = runtimes.split_glue_modules(value)  # what Glue does with the value: split on commas
    assert [p.split("==")[0] for p in parsed] == list(runtimes.GLUE_JOB_PACKAGES)
    for spec in parsed:
        name, _, version = spec.partition("==")
        assert runtimes.EXACT_PIN.match(spec), f"{spec!r} is not name==version"
        assert version == pins[runtimes.canonical(name)], f"{spec} differs from requirements.txt"
    # nothing lost or invented in the round trip through the comma-separated value
    assert parsed == AwsSpec().glue_python_modules == runtimes.glue_job_modules()


def test_a_range_spec_would_be_torn_apart_by_glue_and_is_refused():
    # the value the project sent before: Glue installs "pydantic>=2", "<3" and "s3fs"
    assert runtimes.split_glue_modules("pydantic>=2,<3,s3fs") == ["pydantic>=2", "<3", "s3fs"]
    for bad in (["pydantic>=2,<3"], ["s3fs"], ["pydantic>=2"], ["pydantic==2.14.3,s3fs==2026.9.0"]):
        with pytest.raises(ValueError, match=r"exact pins only \(name==version"):
            AwsSpec(glue_python_modules=bad)
    with pytest.raises(runtimes.PinError, match="exact pins only"):
        runtimes.glue_modules_argument(["pydantic>=2,<3"])


def test_pins_are_read_from_requirements_txt_and_a_missing_pin_names_the_file(tmp_path: Path):
    req = tmp_path / "requirements.txt"
    req.write_text("# freeze\nPyYAML==6.0.3\npydantic==2.0.1\nfsspec==1.0\ns3fs==1.0\n")
    pins = runtimes.requirement_pins(req)
    assert runtimes.glue_job_modules(pins) == ["pydantic==2.0.1", "PyYAML==6.0.3", "fsspec==1.0", "s3fs==1.0"]
    with pytest.raises(runtimes.PinError, match=r"s3fs is not pinned in requirements\.txt"):
        runtimes.glue_job_modules({k: v for k, v in pins.items() if k != "s3fs"})
    req.write_text("pydantic>=2,<3\n")
    with pytest.raises(runtimes.PinError, match=r"requirements.txt:1: 'pydantic>=2,<3' is not an exact pin"):
        runtimes.requirement_pins(req)


def test_the_default_glue_version_is_supported_and_others_are_refused_by_profile_validation(tmp_path: Path):
    assert AwsSpec().glue_version == runtimes.DEFAULT_GLUE_VERSION in runtimes.SUPPORTED_GLUE_VERSIONS
    runtime = runtimes.GLUE_RUNTIMES[runtimes.DEFAULT_GLUE_VERSION]
    assert (runtime.python, runtime.spark.split(".")[:2]) == ("3.13", ["4", "1"])  # arrow_udf: Spark >= 4.1
    text = (PROJECT_ROOT / "include" / "profiles" / "airline_tweets.yaml").read_text(encoding="utf-8")
    bad = tmp_path / "airline_tweets.yaml"
    bad.write_text(text + "\naws:\n  glue_version: '5.0'\n", encoding="utf-8")
    with pytest.raises(ProfileError, match=r"(?s)airline_tweets.yaml.*glue_version.*'5.0' is not supported.*arrow_udf"):
        load_profile(bad)


def test_every_shipped_profile_sends_the_projects_pins():
    pins = runtimes.glue_job_modules()
    for path in sorted((PROJECT_ROOT / "include" / "profiles").glob("*.yaml")):
        aws = load_profile(path).aws
        assert aws.glue_version in runtimes.SUPPORTED_GLUE_VERSIONS, path.name
        assert aws.glue_python_modules == pins, f"{path.name}: aws.glue_python_modules differ from requirements.txt"
