"""Settings reach what they configure (Spark session, code version) and keep secrets out of repr."""

from __future__ import annotations

from typing import Any

import pytest


class _Recorder:
    def __init__(self) -> None:
        self.conf: dict[str, str] = {}
        self.master_url = ""

    def appName(self, _name: str) -> _Recorder:
        return self

    def master(self, url: str) -> _Recorder:
        self.master_url = url
        return self

    def config(self, key: str, value: Any) -> _Recorder:
        self.conf[key] = str(value)
        return self

    def getOrCreate(self) -> _Recorder:
        return self


def test_driver_memory_shuffle_partitions_and_master_come_from_the_settings(monkeypatch: pytest.MonkeyPatch):
    from pyspark.sql import SparkSession

    from etl import spark as spark_mod
    from include.settings import get_settings

    recorder = _Recorder()
    monkeypatch.setattr(SparkSession, "getActiveSession", staticmethod(lambda: None))
    monkeypatch.setattr(SparkSession, "builder", recorder)
    monkeypatch.setattr(spark_mod, "check_java", lambda: None)
    monkeypatch.setenv("NLPOPS_SPARK_DRIVER_MEMORY", "3g")
    monkeypatch.setenv("NLPOPS_SPARK_SHUFFLE_PARTITIONS", "7")
    monkeypatch.setenv("NLPOPS_SPARK_MASTER", "local[1]")
    get_settings.cache_clear()
    try:
        spark_mod.get_spark("t")
    finally:
        get_settings.cache_clear()
    assert recorder.conf["spark.driver.memory"] == "3g"
    assert recorder.conf["spark.sql.shuffle.partitions"] == "7"
    assert recorder.master_url == "local[1]"


@pytest.mark.parametrize("value", ["2", "lots", "0g", "-1g"])
def test_a_driver_memory_that_is_not_a_jvm_size_is_refused(value: str):
    from include.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="NLPOPS_SPARK_DRIVER_MEMORY"):
        load_settings({"NLPOPS_SPARK_DRIVER_MEMORY": value})


def test_code_version_defaults_to_the_checkout_commit_and_can_be_set():
    from include.settings import load_settings

    assert load_settings({"NLPOPS_CODE_VERSION": "v1.2"}).resolved_code_version() == "v1.2"
    derived = load_settings({}).resolved_code_version()
    assert derived.startswith(("git:", "nlpops==")) and derived != "unknown"


def test_the_serving_token_never_appears_when_settings_are_printed():
    from include.settings import load_settings

    settings = load_settings({"NLPOPS_SERVING_TOKEN": "s3cr3t-token-value"})
    assert settings.serving_token == "s3cr3t-token-value"
    assert "s3cr3t-token-value" not in repr(settings) and "s3cr3t-token-value" not in str(settings)
