"""What the Model Ops page shows, built from the registry and the lake; no Airflow, no web framework.

Per enabled profile: the champion and the challenger (registry aliases) with their metrics,
status and the gate's reason, the most recent versions, the last drift decisions of the
policy (``reports/drift/<profile>/history.jsonl``) and the reports people open: the
evaluation report of each version (its ``evaluation_report`` tag), the drift report of
each decision and the latest GX Data Docs of the training and the scoring data.

Reports are addressed by their *key* inside the lake's ``reports`` zone
(``evaluation/<profile>/<job>/index.html``); :func:`report_uri` turns a key back into a URI
and refuses anything that is not a plain file below that zone.
"""

from __future__ import annotations

import json
import mimetypes
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from include import lake
from include.lake import LakePathError
from include.settings import Settings

#: Registry aliases (same strings as ``ml.registry.CHAMPION`` / ``CHALLENGER``; kept here so
#: building a summary does not import MLflow before it is needed).
CHAMPION = "champion"
CHALLENGER = "challenger"
EVALUATION_TAG = "evaluation_report"
DRIFT_HISTORY = "history.jsonl"
DRIFT_REPORT = "report.html"
DATA_DOCS = "data_docs/index.html"
#: Largest report file the page serves (reports are single HTML pages, PNGs and small JSON).
MAX_REPORT_BYTES = 50 * 1024 * 1024


class ReportNotFoundError(LookupError):
    """No report file under this key (or the key names a folder)."""


@dataclass(frozen=True)
class VersionSummary:
    """One registry version as the page shows it."""

    version: str
    status: str
    aliases: list[str]
    metrics: dict[str, float]
    reason: str = ""
    job_name: str = ""
    evaluation_report: str | None = None  # report key, None when not under the reports zone


@dataclass(frozen=True)
class DriftDecisionSummary:
    """One drift decision of the policy (a line of the history), newest first on the page."""

    time: str
    run_key: str
    status: str
    retrain: bool
    n: int
    metrics_over: dict[str, float | None]  # metric name -> value, for the metrics over their threshold
    reasons: list[str]
    report: str | None = None  # report key of report.html, when it exists


@dataclass(frozen=True)
class ProfileSummary:
    """Everything the page lists for one profile; ``errors`` says what could not be read."""

    name: str
    description: str
    primary_metric: str
    champion: VersionSummary | None = None
    challenger: VersionSummary | None = None
    recent_versions: list[VersionSummary] = field(default_factory=list)
    decisions: list[DriftDecisionSummary] = field(default_factory=list)
    validation_docs: str | None = None  # latest GX Data Docs of the training data (report key)
    inference_validation_docs: str | None = None  # latest GX Data Docs of the scoring input
    cluster_report: str | None = None  # latest cluster report of the categories DAG (report key)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ModelOpsSummary:
    """The whole page: target, lake, time of the snapshot and one entry per enabled profile."""

    target: str
    lake_uri: str
    generated_at: str
    profiles: list[ProfileSummary]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- report keys ----------------------------------------------------------------------------
def reports_root(settings: Settings) -> str:
    """URI of the reports zone (``…/reports``)."""
    return settings.zone_uri("reports")


def report_key(settings: Settings, uri: str | None) -> str | None:
    """The key of ``uri`` inside the reports zone, or None when it is elsewhere (never linked)."""
    if not uri:
        return None
    root = reports_root(settings).rstrip("/") + "/"
    if not uri.startswith(root):
        return None
    key = uri[len(root) :]
    try:
        return _check_key(key)
    except LakePathError:
        return None


def _check_key(key: str) -> str:
    lake.safe_key(key)
    parts = key.split("/")
    if not key or any(p in ("", ".") for p in parts):
        raise LakePathError(f"report key {key!r} is empty or has an empty or '.' segment: refused")
    if any(p.startswith(".") for p in parts):
        # hidden and temporary files (atomic writes in progress) are never served
        raise LakePathError(f"report key {key!r} names a hidden file: refused")
    return key


def report_uri(settings: Settings, key: str) -> str:
    """URI of the report file ``key`` below the reports zone.

    Raises :class:`include.lake.LakePathError` for traversal (``..``), absolute keys,
    backslashes, NULs, empty or hidden segments, and — on a ``file://`` lake — for a key
    whose real path (symlinks resolved) leaves the reports zone.
    """
    _check_key(key)
    root = reports_root(settings)
    uri = lake.join(root, key)
    if uri.startswith("file://"):
        real_root = os.path.realpath(lake.local_path(root))
        real = os.path.realpath(lake.local_path(uri))
        if os.path.commonpath([real_root, real]) != real_root:
            raise LakePathError(f"report key {key!r} resolves outside the reports zone: refused")
    return uri


def read_report(settings: Settings, key: str) -> tuple[bytes, str]:
    """Bytes and content type of the report file ``key`` (``file://`` or any fsspec lake).

    Raises :class:`ReportNotFoundError` when there is no such file, LakePathError for a refused key.
    """
    uri = report_uri(settings, key)
    fs, path = lake.filesystem(uri)
    if not fs.exists(path) or fs.isdir(path):
        raise ReportNotFoundError(f"no report {key!r} in {reports_root(settings)}")
    size = fs.size(path)
    if size is not None and size > MAX_REPORT_BYTES:
        raise ReportNotFoundError(f"report {key!r} is {size} bytes, more than the page serves ({MAX_REPORT_BYTES})")
    return lake.read_bytes(uri), content_type(key)


def content_type(key: str) -> str:
    """Content type of a report file from its name (HTML, PNG, JSON, CSS, JS …)."""
    if key.endswith((".jsonl", ".json")):
        return "application/json"
    guessed, _ = mimetypes.guess_type(key)
    return guessed or "application/octet-stream"


# -- the summary ----------------------------------------------------------------------------
def build_summary(
    settings: Settings,
    *,
    registry_factory: Callable[[Settings], Any] | None = None,
    profiles: Iterable[Any] | None = None,
    decisions: int = 5,
    versions: int = 5,
    now: datetime | None = None,
) -> ModelOpsSummary:
    """The Model Ops summary of every enabled profile (or of ``profiles``).

    ``registry_factory`` defaults to :func:`ml.registry.get_registry`. A part that cannot be
    read (no registry on this target yet, a malformed history line) is reported in the
    profile's ``errors`` and the rest is still shown.
    """
    if profiles is None:
        from include.profiles import enabled_profiles

        profiles = enabled_profiles(settings).values()
    registry, registry_error = None, ""
    try:
        if registry_factory is None:
            from ml.registry import get_registry

            registry_factory = get_registry
        registry = registry_factory(settings)
    except Exception as exc:  # shown on the page; one unavailable part must not hide the others
        registry_error = f"model registry not available: {exc}"
    out = []
    for profile in profiles:
        out.append(_profile_summary(settings, profile, registry, registry_error, decisions, versions))
    return ModelOpsSummary(
        target=settings.target,
        lake_uri=settings.lake_uri,
        generated_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        profiles=out,
    )


def _profile_summary(
    settings: Settings, profile: Any, registry: Any, registry_error: str, n_decisions: int, n_versions: int
) -> ProfileSummary:
    errors: list[str] = [registry_error] if registry_error else []
    champion = challenger = None
    recent: list[VersionSummary] = []
    if registry is not None:
        try:
            champion = _version(settings, registry.get_by_alias(profile.name, CHAMPION))
            challenger = _version(settings, registry.get_by_alias(profile.name, CHALLENGER))
            listed = registry.list_versions(profile.name)
            recent = [v for v in (_version(settings, mv) for mv in reversed(listed[-n_versions:])) if v]
        except Exception as exc:  # a registry error names the profile; the drift part still shows
            errors.append(f"registry: {exc}")
    decisions: list[DriftDecisionSummary] = []
    try:
        decisions = drift_decisions(settings, profile.name, limit=n_decisions)
    except Exception as exc:
        errors.append(f"drift history: {exc}")
    docs: dict[str, str | None] = {}
    for area in (profile.name, f"{profile.name}-inference"):
        try:
            docs[area] = latest_data_docs(settings, area)
        except Exception as exc:
            docs[area] = None
            errors.append(f"GX Data Docs of {area}: {exc}")
    cluster_report = None
    try:
        cluster_report = latest_cluster_report(settings, profile.name)
    except Exception as exc:
        errors.append(f"cluster reports: {exc}")
    return ProfileSummary(
        name=profile.name,
        description=str(getattr(profile, "description", "")),
        primary_metric=str(getattr(getattr(profile, "model", None), "primary_metric", "macro_f1")),
        champion=champion,
        challenger=challenger,
        recent_versions=recent,
        decisions=decisions,
        validation_docs=docs[profile.name],
        inference_validation_docs=docs[f"{profile.name}-inference"],
        cluster_report=cluster_report,
        errors=errors,
    )


def _version(settings: Settings, mv: Any) -> VersionSummary | None:
    if mv is None:
        return None
    tags = dict(mv.tags or {})
    return VersionSummary(
        version=str(mv.version),
        status=str(mv.status),
        aliases=sorted(str(a) for a in (mv.aliases or ())),
        metrics={str(k): float(v) for k, v in sorted((mv.metrics or {}).items())},
        reason=str(tags.get("approval_reason", "")),
        job_name=str(tags.get("job_name", "")),
        evaluation_report=report_key(settings, tags.get(EVALUATION_TAG)),
    )


def drift_decisions(settings: Settings, profile: str, *, limit: int = 5) -> list[DriftDecisionSummary]:
    """The last ``limit`` decisions of the profile's drift history, newest first.

    Reads the JSON Lines written by ``ml.drift.policy.append_history``; a line that is not a
    decision raises ValueError naming the file and the line.
    """
    uri = settings.zone_uri("reports", "drift", profile, DRIFT_HISTORY)
    if not lake.exists(uri):
        return []
    rows: list[dict[str, Any]] = []
    for lineno, line in enumerate(lake.read_bytes(uri).decode("utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            row["_time"] = datetime.fromisoformat(str(row["time"]))
            str(row["status"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{uri} line {lineno} is not a drift decision ({exc})") from None
        rows.append(row)
    rows.sort(key=lambda r: r["_time"], reverse=True)
    out = []
    for row in rows[: max(limit, 0)]:
        metrics = row.get("metrics") or {}
        run = str(row.get("run_key") or "")
        report = None
        if run:
            candidate = f"drift/{profile}/{run}/{DRIFT_REPORT}"
            if lake.exists(lake.join(reports_root(settings), candidate)):
                report = candidate
        out.append(
            DriftDecisionSummary(
                time=row["_time"].isoformat(),
                run_key=run,
                status=str(row["status"]),
                retrain=bool(row.get("retrain", False)),
                n=int(row.get("n") or 0),
                metrics_over={
                    str(m): (float(metrics[m]) if isinstance(metrics.get(m), int | float) else None)
                    for m in row.get("metrics_over") or []
                },
                reasons=[str(r) for r in row.get("reasons") or []],
                report=report,
            )
        )
    return out


def latest_data_docs(settings: Settings, area: str) -> str | None:
    """Report key of the newest published GX Data Docs under ``reports/validation/<area>/``."""
    prefix = settings.zone_uri("reports", "validation", area)
    newest: tuple[float, str] | None = None
    for run_uri in lake.published(prefix):
        docs = lake.join(run_uri, DATA_DOCS)
        if not lake.exists(docs):
            continue
        fs, path = lake.filesystem(lake.join(run_uri, lake.MANIFEST))
        info = fs.info(path)
        stamp = info.get("mtime") or info.get("LastModified") or 0
        when = stamp.timestamp() if hasattr(stamp, "timestamp") else float(stamp)
        if newest is None or (when, run_uri) > newest:
            newest = (when, run_uri)
    if newest is None:
        return None
    return report_key(settings, lake.join(newest[1], DATA_DOCS))


def latest_cluster_report(settings: Settings, profile: str) -> str | None:
    """Report key of the newest cluster report of ``<profile>_categories`` (``reports/categories/<profile>/…``)."""
    from ml.categories.report import REPORT_FILE

    prefix = settings.zone_uri("reports", "categories", profile)
    reports = [o for o in lake.list_objects(prefix) if o.key.count("/") == 1 and o.key.endswith("/" + REPORT_FILE)]
    if not reports:
        return None
    newest = max(reports, key=lambda o: (o.mtime, o.key))
    return report_key(settings, newest.uri)


def evaluation_report_uri(settings: Settings, profile: str, job_name: str) -> str:
    """Where the ``evaluate`` task of ``<profile>_train`` writes the report of training job ``job_name``."""
    return settings.zone_uri("reports", "evaluation", profile, job_name, "index.html")


def data_docs_uri(settings: Settings, area: str, run_key: str) -> str:
    """GX Data Docs of one validation run (``area`` = profile, or ``<profile>-inference``)."""
    return settings.zone_uri("reports", "validation", area, run_key, DATA_DOCS)


def transform_job(settings: Settings, profile: str, job_name: str) -> dict[str, Any]:
    """The published manifest of one batch transform job (counts per input file, model version).

    ``inference-output/<profile>/<job_name>/_manifest.json``; both names must be plain path
    segments. Raises ReportNotFoundError when the job has not published (yet).
    """
    for part in (profile, job_name):
        if "/" in part or not part or part.startswith("."):
            raise LakePathError(f"{part!r} is not a profile or job name: refused")
        lake.safe_key(part)
    uri = settings.zone_uri("inference-output", profile, job_name, lake.MANIFEST)
    if not lake.exists(uri):
        raise ReportNotFoundError(f"transform job {job_name!r} of {profile!r} has no published output")
    manifest = lake.read_json(uri)
    if not isinstance(manifest, dict):
        raise ReportNotFoundError(f"{uri} is not a transform manifest")
    return manifest


__all__ = [
    "DriftDecisionSummary",
    "ModelOpsSummary",
    "ProfileSummary",
    "ReportNotFoundError",
    "VersionSummary",
    "build_summary",
    "content_type",
    "data_docs_uri",
    "drift_decisions",
    "evaluation_report_uri",
    "latest_data_docs",
    "read_report",
    "report_key",
    "report_uri",
    "transform_job",
]
