"""The remote runtimes the aws target runs the project's code in, and the package pins they get.

Pure Python (``packaging`` only inside functions): importable by DAG files, profiles and tests.

* **Glue**: a supported Glue version is one whose runtime contract test passes
  (``tests/runtimes/test_glue_runtime.py`` runs ``etl/jobs/prepare_text.py`` on that
  version's Python and Spark). ``etl/transforms/text.py`` uses ``arrow_udf`` (Spark 4.1), so
  Glue 5.x (Spark 3.5) cannot run it. The job's ``--additional-python-modules`` are exact
  pins taken from ``requirements.txt`` (:func:`glue_job_modules`): Glue splits the value on
  commas, so a range such as ``pydantic>=2,<3`` would be torn apart.
* **SageMaker**: the project image (``docker/sagemaker/Dockerfile``) runs ``ml/train.py`` and
  the inference handler on Python :data:`SAGEMAKER_PYTHON` with
  ``docker/sagemaker/requirements.txt``: the closure of :data:`SAGEMAKER_IMAGE_ROOTS` pinned
  exactly as in ``requirements.txt`` (:func:`image_requirements`), so a model trained there is
  read by the Airflow worker's scikit-learn without a version skew.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS_FILE = PROJECT_ROOT / "requirements.txt"
IMAGE_DIR = PROJECT_ROOT / "docker" / "sagemaker"
IMAGE_REQUIREMENTS_FILE = IMAGE_DIR / "requirements.txt"

#: ``name==version`` and nothing else: what a comma-separated Glue module list can carry.
EXACT_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9][A-Za-z0-9.+!_-]*)$")


class PinError(ValueError):
    """A package pin is missing, not exact, or disagrees with ``requirements.txt``."""


def canonical(name: str) -> str:
    """PEP 503 normalised distribution name (``PyYAML`` -> ``pyyaml``, ``scikit_learn`` -> ``scikit-learn``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_pins(path: Path = REQUIREMENTS_FILE) -> dict[str, str]:
    """``{canonical name: version}`` of every ``name==version`` line of ``path`` (the project's freeze)."""
    if not path.is_file():
        raise PinError(f"{path} does not exist: the runtime pins are taken from the project's requirements.txt")
    pins: dict[str, str] = {}
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        match = EXACT_PIN.match(line.split(";", 1)[0].strip())
        if not match:
            raise PinError(f"{path}:{lineno}: {line!r} is not an exact pin (name==version)")
        pins[canonical(match.group(1))] = match.group(2)
    return pins


def exact_pins(names: Iterable[str], pins: Mapping[str, str] | None = None) -> list[str]:
    """``name==<version in requirements.txt>`` for each of ``names`` (spelled as given)."""
    pins = requirement_pins() if pins is None else pins
    out = []
    for name in names:
        version = pins.get(canonical(name))
        if version is None:
            raise PinError(f"{name} is not pinned in {REQUIREMENTS_FILE.name}: add it there (name==version)")
        out.append(f"{name}=={version}")
    return out


# --- Glue -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GlueRuntime:
    """What one Glue version runs a job on: its Python, its Spark, and the modules it ships that the job uses."""

    version: str
    python: str
    spark: str
    #: Modules the runtime ships that the job imports (``pyarrow`` for ``arrow_udf``): the
    #: contract venv installs these and nothing else besides pyspark and the job's own modules.
    provided: Mapping[str, str] = field(default_factory=dict)


#: Supported Glue versions: each has a runtime contract test (tests/runtimes/test_glue_runtime.py).
#: Glue 6.0 = Spark 4.1.1, Python 3.13 (AWS "Migrating to AWS Glue 6.0"). The provided module
#: versions are the oldest releases with Python 3.13 wheels that pyspark 4.1.1 accepts: the
#: job must work with them, and ``--additional-python-modules`` does not replace them.
GLUE_RUNTIMES: dict[str, GlueRuntime] = {
    "6.0": GlueRuntime(
        version="6.0",
        python="3.13",
        spark="4.1.1",
        provided={"numpy": "2.1.3", "pandas": "2.2.3", "pyarrow": "18.1.0"},
    ),
}
SUPPORTED_GLUE_VERSIONS = tuple(GLUE_RUNTIMES)
DEFAULT_GLUE_VERSION = "6.0"
#: Why other versions are refused (shown by profile validation).
UNSUPPORTED_GLUE_REASON = (
    "etl/transforms/text.py uses pyspark's arrow_udf (new in Spark 4.1); Glue 5.0 and 5.1 run "
    "Spark 3.5, older versions older Spark"
)
#: What ``etl/jobs/prepare_text.py`` and the packages it ships (``etl``, ``include``) import that
#: Glue does not provide: pydantic and PyYAML (profiles), fsspec and s3fs (the lake on s3://).
GLUE_JOB_PACKAGES = ("pydantic", "PyYAML", "fsspec", "s3fs")


def glue_job_modules(pins: Mapping[str, str] | None = None) -> list[str]:
    """The job's ``--additional-python-modules``: :data:`GLUE_JOB_PACKAGES` pinned as in ``requirements.txt``."""
    return exact_pins(GLUE_JOB_PACKAGES, pins)


def check_glue_modules(modules: Iterable[str]) -> list[str]:
    """Each module must be an exact pin with no comma (Glue splits the list on commas); returns them."""
    modules = list(modules)
    bad = [m for m in modules if not EXACT_PIN.match(m)]
    if bad:
        raise PinError(
            f"aws.glue_python_modules {bad}: Glue splits --additional-python-modules on commas and installs "
            "each piece; give exact pins only (name==version, e.g. pydantic==2.14.3)"
        )
    return modules


def glue_modules_argument(modules: Iterable[str]) -> str:
    """The ``--additional-python-modules`` value: checked exact pins joined with commas."""
    return ",".join(check_glue_modules(modules))


def split_glue_modules(value: str) -> list[str]:
    """What Glue makes of ``--additional-python-modules``: the value split on commas, one pip spec each."""
    return [part.strip() for part in value.split(",") if part.strip()]


def check_glue_version(version: str) -> str:
    """``version`` if it is a supported Glue version, else a :class:`ValueError` saying what to set."""
    if version not in GLUE_RUNTIMES:
        raise ValueError(
            f"aws.glue_version {version!r} is not supported: {UNSUPPORTED_GLUE_REASON}. "
            f"Use one of {', '.join(SUPPORTED_GLUE_VERSIONS)} (a supported version is one whose runtime "
            "contract test, tests/runtimes/test_glue_runtime.py, passes)"
        )
    return version


# --- SageMaker image ------------------------------------------------------------------------------

#: The Python of the project's SageMaker image (``FROM python:<this>-slim``) and of its contract venv.
SAGEMAKER_PYTHON = "3.12"
#: What ``ml/train.py`` and ``ml/inference.py`` import (matplotlib: the test confusion PNG).
SAGEMAKER_IMAGE_ROOTS = ("scikit-learn", "skops", "numpy", "scipy", "pandas", "pyarrow", "matplotlib")
#: Packages whose versions must match the Airflow worker's exactly (the model file crosses over):
#: the image carries them as labels (``nlpops.pin.<name>``) for the preflight to compare.
MODEL_PINS = ("scikit-learn", "skops", "numpy", "scipy")
LABEL_PREFIX = "nlpops.pin."


def image_requirements(
    pins: Mapping[str, str] | None = None,
    roots: Iterable[str] = SAGEMAKER_IMAGE_ROOTS,
    python_version: str = SAGEMAKER_PYTHON,
) -> list[str]:
    """``docker/sagemaker/requirements.txt``: the dependency closure of ``roots``, pinned as in ``requirements.txt``.

    The closure is read from the installed distributions' metadata (the project venv, which
    is installed from ``requirements.txt``) with markers evaluated for ``python_version``.
    """
    from importlib import metadata

    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    pins = requirement_pins() if pins is None else pins
    env: dict[str, str] = {
        **{str(k): str(v) for k, v in default_environment().items()},
        "python_version": python_version,
        "python_full_version": f"{python_version}.0",
        "extra": "",
    }
    seen: dict[str, str] = {}
    todo = [canonical(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in pins:
            raise PinError(f"{name} (needed by the SageMaker image) is not pinned in {REQUIREMENTS_FILE.name}")
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise PinError(f"{name} is not installed in this venv: run `make venv`") from None
        seen[name] = dist.metadata["Name"]
        for spec in dist.requires or []:
            req = Requirement(spec)
            if req.marker is not None and not req.marker.evaluate(env):
                continue
            todo.append(canonical(req.name))
    return sorted(f"{seen[n]}=={pins[n]}" for n in seen)


def image_labels(pins: Mapping[str, str] | None = None) -> dict[str, str]:
    """The labels the image carries (``nlpops.pin.scikit-learn=1.9.1`` …) for the preflight to check."""
    pins = requirement_pins() if pins is None else pins
    return {f"{LABEL_PREFIX}{name}": pins[name] for name in MODEL_PINS}


IMAGE_REQUIREMENTS_HEADER = (
    "# The SageMaker image's packages (docker/sagemaker/Dockerfile): generated from requirements.txt by\n"
    "# `make sagemaker-image-requirements` (include/runtimes.py image_requirements); do not edit by hand.\n"
)


def glue_venv_requirements(version: str, modules: Iterable[str] | None = None) -> tuple[list[str], list[str]]:
    """What the Glue contract venv installs, in two steps as Glue does: (its own packages, the job's modules).

    The first list is pyspark and the modules Glue provides; the second is the job's
    ``--additional-python-modules`` (default :func:`glue_job_modules`), parsed from the
    argument value the way Glue parses it (:func:`split_glue_modules`), so a spec that Glue
    would tear apart fails here too.
    """
    runtime = GLUE_RUNTIMES[check_glue_version(version)]
    value = glue_modules_argument(glue_job_modules() if modules is None else modules)
    provided = [f"{name}=={ver}" for name, ver in sorted(runtime.provided.items())]
    return [f"pyspark=={runtime.spark}", *provided], split_glue_modules(value)


def main(argv: list[str] | None = None) -> int:
    """The Makefile's entry: ``python -m include.runtimes <command>``.

    Commands: ``image-requirements``, ``glue-requirements <version> runtime|job``,
    ``glue-python <version>``.
    """
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["image-requirements"]:
        sys.stdout.write(IMAGE_REQUIREMENTS_HEADER + "\n".join(image_requirements()) + "\n")
    elif len(args) == 3 and args[0] == "glue-requirements" and args[2] in ("runtime", "job"):
        runtime, job = glue_venv_requirements(args[1])
        sys.stdout.write("\n".join(runtime if args[2] == "runtime" else job) + "\n")
    elif len(args) == 2 and args[0] == "glue-python":
        sys.stdout.write(GLUE_RUNTIMES[check_glue_version(args[1])].python + "\n")
    else:
        sys.stderr.write(f"usage: python -m include.runtimes <command>\n{main.__doc__}\n")
        return 2
    return 0


__all__ = [
    "DEFAULT_GLUE_VERSION",
    "GLUE_JOB_PACKAGES",
    "GLUE_RUNTIMES",
    "MODEL_PINS",
    "SAGEMAKER_IMAGE_ROOTS",
    "SAGEMAKER_PYTHON",
    "SUPPORTED_GLUE_VERSIONS",
    "GlueRuntime",
    "PinError",
    "check_glue_modules",
    "check_glue_version",
    "exact_pins",
    "glue_job_modules",
    "glue_modules_argument",
    "glue_venv_requirements",
    "image_labels",
    "image_requirements",
    "requirement_pins",
    "split_glue_modules",
]


if __name__ == "__main__":
    raise SystemExit(main())
