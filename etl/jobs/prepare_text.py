"""Glue-compatible PySpark job: validated zone → processed zone (docs/CONTRACTS.md "Processed").

Run it as Glue would::

    python -m etl.jobs.prepare_text --JOB_NAME <name> --profile_json '<Profile JSON>' \\
        --input_uris file:///lake/validated/p/k1,file:///lake/validated/p/k2 \\
        --output_uri file:///lake/processed/p/run=k2 --run_key k2

Arguments are parsed with ``awsglue.utils.getResolvedOptions`` on Glue and with argparse
(same names, unknown Glue arguments ignored) everywhere else. The output is written under
a hidden staging prefix, partitioned by ``split``, then published with its manifest by
``include.lake.publish_dir``: a retry replaces its own output, and a failed or partial
attempt is never visible to readers. Exit code 0 on success, 1 with a one-line reason on
stdout otherwise.
"""

from __future__ import annotations

import argparse
import logging
import posixpath
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from include import lake
from include.profiles import Profile

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger("etl.jobs.prepare_text")

ARGS = ("JOB_NAME", "profile_json", "input_uris", "output_uri", "run_key")
#: Metadata columns of the validated zone this job reads (besides the profile's fields).
META_COLUMNS = ("_row_id", "_source_uri", "_source_record", "_source_line")


class JobError(RuntimeError):
    """A failure the user can act on; the message says what and where."""


@dataclass(frozen=True)
class JobArgs:
    """The job's named arguments, parsed and checked."""

    job_name: str
    profile: Profile
    input_uris: tuple[str, ...]
    output_uri: str
    run_key: str


def _glue_resolver() -> Any:
    try:
        from awsglue.utils import getResolvedOptions  # type: ignore[import-not-found]
    except ImportError:
        return None
    return getResolvedOptions


def parse_args(argv: Sequence[str]) -> JobArgs:
    """Parse ``--JOB_NAME --profile_json --input_uris --output_uri --run_key`` (``argv`` without program name)."""
    resolver = _glue_resolver()
    if resolver is not None:
        raw: dict[str, str] = resolver(["prepare_text", *argv], list(ARGS))
    else:
        parser = argparse.ArgumentParser(prog="python -m etl.jobs.prepare_text", description=__doc__.split("\n")[0])
        for name in ARGS:
            parser.add_argument(f"--{name}", required=True)
        # Glue adds its own arguments (--job-bookmark-option, --TempDir, ...): ignore them.
        known, _ = parser.parse_known_args(list(argv))
        raw = vars(known)
    try:
        profile = Profile.from_json(raw["profile_json"])
    except ValueError as exc:
        raise JobError(f"--profile_json is not a valid profile: {exc}") from None
    inputs = tuple(u.strip() for u in raw["input_uris"].split(",") if u.strip())
    if not inputs:
        raise JobError("--input_uris is empty: pass the comma-separated validated URIs to process")
    for uri in (*inputs, raw["output_uri"]):
        if "://" not in uri:
            raise JobError(f"{uri!r} is not a URI: use file:///abs/path or s3://bucket/key")
    if not raw["run_key"].strip():
        raise JobError("--run_key is empty")
    return JobArgs(raw["JOB_NAME"], profile, inputs, raw["output_uri"].rstrip("/"), raw["run_key"].strip())


def spark_path(uri: str, *, on_glue: bool = False) -> str:
    """The path Spark reads: ``file://`` as is; ``s3://`` → ``s3a://`` (hadoop-aws) except on Glue,
    whose EMRFS reads ``s3://`` natively."""
    if uri.startswith("s3://") and not on_glue:
        return "s3a://" + uri[len("s3://") :]
    return uri


def read_validated(spark: SparkSession, args: JobArgs, *, on_glue: bool = False) -> tuple[DataFrame, list[dict]]:
    """Union of the published validated inputs, restricted to the columns the ETL needs.

    Each input keeps its run key in ``_ingest_run``. Layouts may differ between inputs
    (CFPB's two exports): only the id/label/text fields and the metadata must be present.
    """
    from functools import reduce

    from pyspark.sql import functions as F

    from etl.transforms.text import col

    profile = args.profile
    wanted = list(dict.fromkeys([*META_COLUMNS, profile.fields.label, *profile.fields.text]))
    frames = []
    inputs = []
    for uri in args.input_uris:
        manifest_uri = lake.join(uri, lake.MANIFEST)
        if not lake.exists(manifest_uri):
            raise JobError(
                f"{uri} is not a published validated output (no {lake.MANIFEST}): pass the URI the "
                "validate task returned, or re-run validation for it"
            )
        manifest = lake.read_json(manifest_uri)
        df = spark.read.parquet(spark_path(uri, on_glue=on_glue))
        missing = [c for c in wanted if c not in df.columns]
        if missing:
            raise JobError(
                f"{uri}: columns {missing} are missing (profile {profile.name!r} needs {wanted}; "
                f"the data has {df.columns}). Was it validated with another profile?"
            )
        run = posixpath.basename(uri.rstrip("/"))
        frames.append(df.select(*[col(c) for c in wanted], F.lit(run).alias("_ingest_run")))
        inputs.append({"uri": uri, "run_key": run, "rows_valid": manifest.get("rows_valid")})
    union = reduce(lambda a, b: a.unionByName(b), frames)
    # Validated folders hold few, large files: spread the Python/regex work over every core.
    return union.repartition(max(2, spark.sparkContext.defaultParallelism * 2)), inputs


def run(spark: SparkSession, args: JobArgs, *, on_glue: bool = False) -> dict[str, Any]:
    """Read, prepare, write to staging, publish. Returns the manifest."""
    from etl.transforms.text import prepare_with_metrics

    started = time.monotonic()
    df, inputs = read_validated(spark, args, on_glue=on_glue)
    out, metrics = prepare_with_metrics(df, args.profile)
    for stale in lake.remove_stale_staging(args.output_uri):
        # A previous attempt of this run was killed before it could clean up: one run, one directory.
        log.info("removed the staging %s of a killed attempt", stale)
    staging = lake.staging_uri(args.output_uri)
    log.info("writing %s rows of %d input(s) to staging %s", args.profile.name, len(inputs), staging)
    try:
        out.write.mode("overwrite").partitionBy("split").parquet(spark_path(staging, on_glue=on_glue))
        counts = metrics.as_dict()
        manifest = {
            "profile": args.profile.name,
            "profile_fingerprint": args.profile.fingerprint(),
            "run_key": args.run_key,
            "job_name": args.job_name,
            **counts,
            "schema": {f.name: f.dataType.simpleString() for f in out.schema.fields},
            "partition_by": ["split"],
            "input": inputs,
            "seconds": round(time.monotonic() - started, 3),
            # ml.data.read_processed: runs in publication order, label conflicts between runs by this policy
            "published_at": time.time(),
            "label_conflicts": args.profile.validation.label_conflicts,
        }
        lake.publish_dir(staging, args.output_uri, manifest)
    except BaseException:
        # Never leave a half-written attempt behind (it is hidden, but it costs space).
        try:
            lake.remove(staging)
        except Exception:
            log.warning("could not remove staging %s", staging, exc_info=True)
        raise
    if counts["rows_empty_text"]:
        log.warning(
            "%d row(s) had no text left after cleaning (only markup/whitespace): dropped", counts["rows_empty_text"]
        )
    log.info(
        "published %s: rows_in=%d rows_out=%d duplicates_removed=%d per split=%s in %.1fs",
        args.output_uri,
        counts["rows_in"],
        counts["rows_out"],
        counts["duplicates_removed"],
        counts["rows_per_split"],
        manifest["seconds"],
    )
    return manifest


def _reason(exc: BaseException) -> str:
    """A one-line reason: Spark's raise_error message without the JVM stack."""
    text = str(exc)
    if "UnknownLabel:" in text:
        text = text[text.index("UnknownLabel:") :]
        text = text.split(" SQLSTATE")[0]
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point (``python -m etl.jobs.prepare_text``). Returns the process exit code."""
    if not logging.getLogger().handlers:
        logging.basicConfig(
            stream=sys.stdout, level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = parse_args(argv)
    except JobError as exc:
        log.error("prepare_text: bad arguments: %s", exc)
        return 2
    glue_job = None
    stop_session = False
    try:
        if _glue_resolver() is not None:
            from awsglue.context import GlueContext  # type: ignore[import-not-found]
            from awsglue.job import Job  # type: ignore[import-not-found]
            from pyspark.context import SparkContext

            glue = GlueContext(SparkContext.getOrCreate())
            spark = glue.spark_session
            glue_job = Job(glue)
            glue_job.init(args.job_name, {"JOB_NAME": args.job_name})
        else:
            from pyspark.sql import SparkSession

            from etl.spark import get_spark

            # Stop the session at the end only if this call created it (tests pass theirs).
            stop_session = SparkSession.getActiveSession() is None
            spark = get_spark(f"prepare_text-{args.profile.name}")
        log.info(
            "job %s: profile %s, %d input(s) -> %s",
            args.job_name,
            args.profile.name,
            len(args.input_uris),
            args.output_uri,
        )
        run(spark, args, on_glue=glue_job is not None)
        if glue_job is not None:
            glue_job.commit()
        return 0
    except Exception as exc:
        # Errors with a clear cause get one line; anything unexpected keeps its traceback.
        expected = isinstance(exc, JobError) or "UnknownLabel:" in str(exc)
        log.error(
            "prepare_text failed (job %s, profile %s): %s",
            args.job_name,
            args.profile.name,
            _reason(exc),
            exc_info=not expected,
        )
        return 1
    finally:
        if stop_session:
            from pyspark.sql import SparkSession

            active = SparkSession.getActiveSession()
            if active is not None:
                active.stop()


if __name__ == "__main__":
    sys.exit(main())
