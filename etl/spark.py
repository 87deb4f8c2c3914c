"""The one place a SparkSession is built (jobs, tests, benchmarks).

On Glue the session comes from GlueContext; everywhere else from here, with the UI
off and few shuffle partitions (small machines, small batches).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def get_spark(app_name: str = "nlpops", master: str | None = None, driver_memory: str | None = None) -> SparkSession:
    """A local SparkSession (or the active one). Fails with a clear message without Java 17.

    Master, driver memory and shuffle partitions default to the settings
    (``NLPOPS_SPARK_MASTER``, ``NLPOPS_SPARK_DRIVER_MEMORY``, ``NLPOPS_SPARK_SHUFFLE_PARTITIONS``).
    """
    from pyspark.sql import SparkSession

    from include.settings import get_settings

    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    check_java()
    settings = get_settings()
    # Python workers must run this interpreter (its venv has pyarrow for the Arrow UDFs);
    # without it Spark starts whatever `python3` is first on PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.appName(app_name)
        .master(master or settings.spark_master)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(settings.spark_shuffle_partitions))
        .config("spark.driver.memory", driver_memory or settings.spark_driver_memory)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.parquet.compression.codec", "snappy")
        .config("spark.driver.extraJavaOptions", "-Dderby.system.home=/tmp/nlpops-derby")
    )
    return builder.getOrCreate()


def check_java() -> None:
    """Raise a clear error when no Java runtime is found (Spark needs Java 17)."""
    import shutil
    import subprocess

    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java")
    if not java or not os.path.exists(java):
        raise RuntimeError(
            "Spark needs Java 17: no `java` on PATH and JAVA_HOME is not set. "
            "Install it (Debian/Ubuntu: `apt-get install openjdk-17-jre-headless`; macOS: "
            "`brew install openjdk@17`) and retry."
        )
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    if '"1.' in out or not any(f'"{v}' in out for v in ("17", "21", "25")):
        raise RuntimeError(f"Spark needs Java 17 (or 21); `{java} -version` says: {out.strip()}")
