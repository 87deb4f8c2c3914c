"""The README is checked against the code: settings, make targets, paths, DAGs, stack parameters."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
#: Variables the code sets for its own child processes (model containers): not user settings.
INTERNAL = {"NLPOPS_MODEL_VERSION", "NLPOPS_PROFILE_JSON"}
#: The project's own code, every room of it (tests and benchmarks set variables, they do not define them).
CODE_DIRS = ("include", "etl", "ml", "plugins", "dags", "scripts")


def _code_files() -> list[Path]:
    return [p for d in CODE_DIRS for p in (ROOT / d).rglob("*.py")]


def _settings_read_by_code() -> set[str]:
    names: set[str] = set()
    for path in _code_files():
        names |= set(re.findall(r"\"(NLPOPS_[A-Z_]+)\"", path.read_text(encoding="utf-8")))
    return names - INTERNAL


def test_environment_is_read_only_in_the_settings_module():
    """One settings object: an ``NLPOPS_*`` read anywhere else is a setting that bypasses validation."""
    read = re.compile(r"(?:environ\.get|environ\[|getenv)\(?\s*[\"'](NLPOPS_[A-Z_]+)")
    offenders = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in _code_files()
        if path != ROOT / "include" / "settings.py"
        for name in read.findall(path.read_text(encoding="utf-8"))
        if name not in INTERNAL
    ]
    assert offenders == []


def _documented_settings() -> set[str]:
    rows = [line for line in README.splitlines() if line.startswith("| `NLPOPS_")]
    return {name for row in rows for name in re.findall(r"`(NLPOPS_[A-Z_]+)`", row.split(" | ")[0])}


def test_every_setting_the_code_reads_is_in_a_readme_settings_table():
    assert sorted(_settings_read_by_code() - _documented_settings()) == []


def test_every_setting_the_readme_names_exists_in_the_code():
    mentioned = set(re.findall(r"NLPOPS_[A-Z_]+", README))
    assert sorted(mentioned - _settings_read_by_code() - {"NLPOPS_SLACK"}) == []  # NLPOPS_SLACK: a connection id


def test_make_targets_in_the_readme_exist():
    targets = set(re.findall(r"^([a-z][\w-]*):", (ROOT / "Makefile").read_text(), re.M))
    used = set(re.findall(r"`make ([a-z][\w-]*)", README))
    assert used and sorted(used - targets) == []


@pytest.mark.parametrize(
    "path",
    sorted(set(re.findall(r"`((?:dags|plugins|include|etl|ml|tests|benchmarks|scripts|docs)/[\w./-]*[\w/])`", README))),
)
def test_paths_in_the_readme_exist(path):
    assert (ROOT / path).exists(), f"README names {path}, which is not in the tree"


def test_dag_families_in_the_readme_are_the_ones_built():
    built = {p.stem for p in (ROOT / "dags").glob("*.py") if not p.stem.startswith("_")}
    for family in built:
        assert f"_{family}`" in README, f"README does not describe the <profile>_{family} DAG"


def test_cloudformation_parameters_in_the_readme_exist():
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "include" / "infra" / "nlpops.yaml").read_text(), Loader=Loader)
    used = set(re.findall(r"\b([A-Z][A-Za-z]+)=", README.split("### Deploy the aws target", 1)[1].split("\n## ", 1)[0]))
    assert used and sorted(used - set(template["Parameters"])) == []
