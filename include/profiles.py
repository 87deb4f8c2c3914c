"""Dataset profiles: one YAML file per dataset in ``include/profiles/``, validated on load.

A profile says how the raw files look (format, columns, reader options), which fields
are the id, the label and the text, the label set, the validation rules, the split,
the model hyper-parameters, the drift policy and the schedules. An unknown key or a
wrong type is an error that names the file and the key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from include.runtimes import DEFAULT_GLUE_VERSION, PinError, check_glue_modules, check_glue_version, glue_job_modules

NAME_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


class ProfileError(ValueError):
    """A profile file is missing, unreadable or invalid; the message names file and key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class InputSpec(_Strict):
    """How raw files of this profile are laid out, exactly as they arrive (unedited)."""

    format: Literal["csv", "tsv"] = "csv"
    header: bool = Field(description="True when the file has a header row naming the columns")
    columns: list[str] = Field(
        min_length=1,
        description="header=false: the column names in file order. header=true: the header's "
        "column names in file order (an unnamed first column is written as '').",
    )
    encoding: Literal["utf-8", "utf-8-sig"] = "utf-8"
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quoting: Literal["rfc4180", "none"] = "rfc4180"
    header_search_lines: int = Field(
        default=0,
        ge=0,
        le=50,
        description="Lines before the header that may be preamble (e.g. an unzip banner); "
        "the header row is found by its column names.",
    )
    alternate_columns: list[list[str]] = Field(
        default_factory=list,
        description="Other accepted header layouts (export variants) of the same dataset.",
    )
    file_patterns: list[str] = Field(default_factory=lambda: ["*.csv", "*.csv.gz"])

    @model_validator(mode="after")
    def _check(self) -> InputSpec:
        if not self.header and (self.alternate_columns or self.header_search_lines):
            raise ValueError("alternate_columns/header_search_lines need header: true")
        return self


class FieldsSpec(_Strict):
    id: str | None = Field(default=None, description="id column; null = stable hash of the raw record")
    label: str
    text: list[str] = Field(min_length=1, description="text columns, joined in this order")
    text_separator: str = " . "


class ValidationSpec(_Strict):
    min_text_chars: int = Field(default=1, ge=1)
    max_text_chars: int = Field(default=20_000, ge=1)
    max_quarantine_rate: float = Field(default=0.2, ge=0.0, le=1.0)
    max_file_bytes: int = Field(default=2_000_000_000, ge=1)
    chunk_rows: int = Field(default=200_000, ge=1_000)
    label_conflicts: Literal["latest", "drop"] = Field(
        default="latest",
        description="the same text with different labels: 'latest' = the record ingested last wins "
        "(a later file that corrects a label takes effect), the others are quarantined; "
        "'drop' = every record of a contested text is quarantined (etl/validation/conflicts.py)",
    )


class SplitSpec(_Strict):
    train: float = Field(default=0.8, gt=0, lt=1)
    validation: float = Field(default=0.1, gt=0, lt=1)
    test: float = Field(default=0.1, gt=0, lt=1)
    salt: str = "nlpops"

    @model_validator(mode="after")
    def _sums_to_one(self) -> SplitSpec:
        if abs(self.train + self.validation + self.test - 1.0) > 1e-9:
            raise ValueError("train + validation + test must sum to 1")
        return self


class ModelSpec(_Strict):
    """Hyper-parameters of the text classifier (overridable by DAG Params)."""

    classifier: Literal["logreg", "linear_svm", "sgd", "nblr"] = "logreg"
    word_ngram_max: int = Field(default=2, ge=1, le=3)
    char_ngram_min: int = Field(default=2, ge=1, le=6)
    char_ngram_max: int = Field(default=5, ge=0, le=6)  # 0 = no character features
    max_features_word: int = Field(default=200_000, ge=1_000)
    max_features_char: int = Field(default=300_000, ge=1_000)
    min_df: int = Field(default=2, ge=1)
    C: float = Field(default=4.0, gt=0)
    class_weight: Literal["balanced", "none"] = "balanced"
    decision_bias: Literal["none", "tuned"] = Field(
        default="none", description="tuned: per-class decision offsets chosen on k-fold scores (ml/decision.py)"
    )
    max_iter: int = Field(default=2_000, ge=10)
    cv_folds: int = Field(default=0, ge=0, le=10)
    sample_size: int = Field(default=0, ge=0, description="0 = train on every row")
    primary_metric: Literal["macro_f1", "accuracy", "roc_auc"] = "macro_f1"
    promotion_margin: float = Field(default=0.005, ge=0)
    metric_floor: float = Field(default=0.5, ge=0, le=1)
    training_timeout_minutes: int = Field(default=60, ge=1)
    search_budget_seconds: int = Field(
        default=300,
        ge=0,
        description="model selection (ml/search.py) within this many seconds, sized for 2 cores; "
        "0 = pin: train exactly the configuration above",
    )
    search_candidates: int = Field(default=18, ge=1, le=200, description="configurations the search draws")


class DriftSpec(_Strict):
    """The drift policy: thresholds per metric and when an alarm becomes a retrain."""

    min_sample: int = Field(default=300, ge=1)
    # Metric names and meaning: ml/drift/metrics.py. Defaults calibrated by
    # benchmarks/bench_drift.py (false alarms <= 5% at batch sizes 500..50k, power >= 95%
    # at moderate_magnitude and 5k rows); token_js_excess is the JS distance above its
    # expected value for the batch size, so one threshold holds for every size.
    thresholds: dict[str, float] = Field(
        default_factory=lambda: {
            "length_psi": 0.1,
            "oov_rate_delta": 0.03,
            "token_js_excess": 0.06,
            "domain_auc": 0.62,
            "prediction_psi": 0.1,
            "confidence_drop": 0.05,
            "low_confidence_delta": 0.08,
        }
    )
    min_metrics_over: int = Field(default=2, ge=1, description="metrics over threshold for a window to count")
    consecutive_windows: int = Field(default=1, ge=1)
    cooldown_hours: float = Field(default=6.0, ge=0)
    max_retrains_per_day: int = Field(default=2, ge=0)
    low_confidence: float = Field(default=0.6, gt=0, lt=1)
    moderate_magnitude: float = Field(default=0.3, gt=0, le=1)


class InferenceSpec(_Strict):
    max_payload_mb: int = Field(default=6, ge=1, le=100)
    max_concurrent_transforms: int = Field(default=1, ge=1)
    instance_type: str = "ml.m5.large"


class EndpointAlarmSpec(_Strict):
    """The CloudWatch alarms nlpops creates per endpoint (aws); each one rolls a blue/green update back.

    On the endpoint's variant (``AWS/SageMaker``, dimensions ``EndpointName`` and ``VariantName``):
    ``Invocation5XXErrors`` (sum per period) and ``ModelLatency`` p99, breaching in each of
    ``evaluation_periods`` consecutive periods. A period without traffic is not breaching. For an
    alarm to stop an update, ``period_seconds * evaluation_periods`` must fit in ``bake_seconds``.
    """

    enabled: bool = Field(default=True, description="create (or update) the two alarms on every deployment")
    errors_5xx: int = Field(default=1, ge=1, description="5XX errors per period at which a period breaches")
    latency_p99_ms: float = Field(
        default=1000.0, gt=0, description="ModelLatency p99 (ms) above which a period breaches"
    )
    period_seconds: int = Field(
        default=60, ge=60, multiple_of=60, description="SageMaker's metrics are per minute: a multiple of 60"
    )
    evaluation_periods: int = Field(default=2, ge=1, le=60, description="consecutive breaching periods that fire it")


class ServingSpec(_Strict):
    """Real-time serving of the champion (aws: a SageMaker endpoint; local: ``make serve`` follows the alias)."""

    endpoint: bool = Field(
        default=False, description="deploy the champion to a real-time endpoint after promotion (costs money idle)"
    )
    instance_type: str = "ml.m5.large"
    instance_count: int = Field(default=1, ge=1)
    rollback_alarms: list[str] = Field(
        default_factory=list,
        description="further CloudWatch alarm names (yours) that roll a blue/green update back, beside `alarms`",
    )
    alarms: EndpointAlarmSpec = Field(default_factory=EndpointAlarmSpec)
    bake_seconds: int = Field(default=300, ge=0, le=3600, description="blue/green: new fleet bakes this long")
    termination_wait_seconds: int = Field(default=120, ge=0, le=3600, description="blue/green: old fleet kept")


class ScheduleSpec(_Strict):
    arrivals: str | None = Field(
        default="*/30 * * * *",
        # `ingest` was this key's name before it was known to schedule batch inference too
        validation_alias=AliasChoices("arrivals", "ingest"),
        description="cron of the DAGs that wait for new files (ingest and batch_inference), null = manual",
    )
    train: str = Field(default="0 2 * * *", description="nightly training cron")
    train_deadline_minutes: int = Field(
        default=240, ge=1, description="notify when a training run is not done this long after it was queued"
    )
    sensor_timeout_minutes: int = Field(default=25, ge=1)
    sensor_poke_seconds: int = Field(default=30, ge=1)
    quiet_seconds: int = Field(default=30, ge=0)
    max_files_per_batch: int = Field(default=100, ge=1)
    max_bytes_per_batch: int = Field(default=5_000_000_000, ge=1)


class AwsSpec(_Strict):
    glue_version: str = Field(
        default=DEFAULT_GLUE_VERSION, description="a version with a passing runtime contract (include/runtimes.py)"
    )
    glue_worker_type: str = "G.1X"
    glue_workers: int = Field(default=2, ge=2)
    glue_timeout_minutes: int = Field(default=60, ge=1, description="Glue job run timeout")
    glue_python_modules: list[str] = Field(
        default_factory=glue_job_modules,
        description="--additional-python-modules the job script needs beyond Glue's own: exact pins "
        "(name==version), by default those of requirements.txt",
    )
    training_instance_type: str = "ml.m5.xlarge"
    training_instance_count: int = Field(default=1, ge=1, description="ml/train.py uses one; more only replicate")
    training_volume_gb: int = Field(default=30, ge=1, le=16384)
    training_spot: bool = Field(default=False, description="managed spot training (checkpoints under the job)")
    training_max_wait_minutes: int = Field(default=0, ge=0, description="spot: 0 = twice the training timeout")
    framework_version: str = "1.2-1"

    @field_validator("glue_version")
    @classmethod
    def _supported_glue(cls, v: str) -> str:
        return check_glue_version(v)

    @field_validator("glue_python_modules")
    @classmethod
    def _exact_pins(cls, v: list[str]) -> list[str]:
        try:
            return check_glue_modules(v)
        except PinError as exc:
            raise ValueError(str(exc)) from None


class Profile(_Strict):
    """One dataset profile (see ``include/profiles/*.yaml``)."""

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    description: str
    enabled: bool = True
    tags: list[str] = Field(default_factory=list)
    input: InputSpec
    fields: FieldsSpec
    labels: dict[str, str] = Field(
        description="raw label value -> canonical class name (the label set, ordered); empty = no labels yet "
        "(bootstrap: the categories DAG clusters the unscored inputs and an analyst names the first classes)"
    )
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    split: SplitSpec = Field(default_factory=SplitSpec)
    model: ModelSpec = Field(default_factory=ModelSpec)
    drift: DriftSpec = Field(default_factory=DriftSpec)
    inference: InferenceSpec = Field(default_factory=InferenceSpec)
    serving: ServingSpec = Field(default_factory=ServingSpec)
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    aws: AwsSpec = Field(default_factory=AwsSpec)

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_as_strings(cls, v: Any) -> Any:
        # YAML reads `1: negative` with an int key; raw labels are compared as text.
        if isinstance(v, dict):
            return {str(k): str(val) for k, val in v.items()}
        return v

    @field_validator("labels", mode="after")
    @classmethod
    def _at_least_two_classes(cls, v: dict[str, str]) -> dict[str, str]:
        classes = list(dict.fromkeys(v.values()))
        if len(classes) == 1:
            raise ValueError(
                f"every raw label ({', '.join(map(repr, v))}) maps to the one class {classes[0]!r}: "
                "a classifier needs at least two classes; map the raw labels onto two or more class names"
            )
        return v

    @model_validator(mode="after")
    def _fields_exist(self) -> Profile:
        layouts = [self.input.columns, *self.input.alternate_columns]
        for wanted in [self.fields.label, *self.fields.text, *([self.fields.id] if self.fields.id else [])]:
            if not all(wanted in layout for layout in layouts):
                raise ValueError(f"fields: column {wanted!r} is not in every input column layout")
        return self

    @property
    def classes(self) -> list[str]:
        """The canonical label set, in declaration order, without repeats."""
        return list(dict.fromkeys(self.labels.values()))

    @property
    def bootstrap(self) -> bool:
        """No labels yet (``labels: {}``): the first classes come from the categories DAG's review."""
        return not self.labels

    @property
    def is_binary(self) -> bool:
        return len(self.classes) == 2

    def fingerprint(self) -> str:
        """Stable hash of the profile's content (recorded with data and models)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def to_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Profile:
        return cls.model_validate_json(text, strict=False)


def _format_errors(path: Path, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "<top>"
        msg = "unknown key" if e["type"] == "extra_forbidden" else e["msg"]
        lines.append(f"{path}: key '{key}': {msg}")
    return "\n".join(lines)


def load_profile(path: str | Path) -> Profile:
    """Load and validate one profile file; the error names the file and the key at fault."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ProfileError(f"{path}: profile file not found") from None
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: a profile is a YAML mapping, got {type(data).__name__}")
    if data.get("name") != path.stem:
        raise ProfileError(f"{path}: key 'name' must equal the file name {path.stem!r}, got {data.get('name')!r}")
    try:
        # YAML gives ints where floats are meant (e.g. `C: 4`): allow lax number coercion only.
        return Profile.model_validate(data, strict=False)
    except ValidationError as err:
        raise ProfileError(_format_errors(path, err)) from None


def load_profiles(directory: str | Path, names: Iterable[str] = ()) -> dict[str, Profile]:
    """Every profile in ``directory``; with ``names``, exactly those (unknown names are an error)."""
    directory = Path(directory)
    found = {p.stem: p for p in sorted(directory.glob("*.yaml"))}
    wanted = list(names)
    missing = [n for n in wanted if n not in found]
    if missing:
        raise ProfileError(f"NLPOPS_PROFILES names {missing} but {directory} only has {sorted(found)}")
    selected = wanted or list(found)
    return {n: load_profile(found[n]) for n in selected}


def enabled_profiles(settings: Any = None) -> dict[str, Profile]:
    """Profiles the DAG factories build DAGs for: NLPOPS_PROFILES if set, else YAML ``enabled``.

    Only the profiles that load: a broken one is left out here (and logged) so it cannot take
    the others down; :func:`broken_profiles` says which and why.
    """
    return scan_profiles(settings)[0]


def broken_profiles(settings: Any = None) -> dict[str, str]:
    """Wanted profiles that do not load, by name (file stem), with the error naming file and key.

    Wanted = named by NLPOPS_PROFILES, else every YAML file not saying ``enabled: false``
    (a file that is not even valid YAML is wanted: nothing says it is disabled).
    """
    return scan_profiles(settings)[1]


def scan_profiles(settings: Any = None) -> tuple[dict[str, Profile], dict[str, str]]:
    """One pass over the profile files: (:func:`enabled_profiles`, :func:`broken_profiles`)."""
    import logging

    from include.settings import get_settings

    s = settings or get_settings()
    directory = Path(s.profiles_dir)
    found = {p.stem: p for p in sorted(directory.glob("*.yaml"))}
    good: dict[str, Profile] = {}
    broken: dict[str, str] = {}
    for name in s.profiles:
        if name not in found:
            broken[name] = f"NLPOPS_PROFILES names {name!r} but {directory} has no {name}.yaml (it has {sorted(found)})"
    for name, path in found.items():
        if s.profiles and name not in s.profiles:
            continue
        try:
            profile = load_profile(path)
        except ProfileError as exc:
            if not s.profiles and _says_disabled(path):
                continue
            broken[name] = str(exc)
            continue
        if s.profiles or profile.enabled:
            good[name] = profile
    for name, message in broken.items():
        logging.getLogger(__name__).error("profile %s is broken, its DAGs fail until fixed: %s", name, message)
    return good, broken


def _says_disabled(path: Path) -> bool:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("enabled") is False


def get_profile(name: str, settings: Any = None) -> Profile:
    from include.settings import get_settings

    s = settings or get_settings()
    return load_profile(Path(s.profiles_dir) / f"{name}.yaml")
