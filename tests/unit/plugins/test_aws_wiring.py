"""``import nlpops`` wires nothing; the entry points wire the Airflow AWS connection explicitly."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap

import pytest

from include import lake as lakefs
from include.settings import PROJECT_ROOT
from ml import registry
from nlpops.aws import registry as aws_registry
from nlpops.aws import session


def wired() -> tuple[object, object]:
    return lakefs._providers.get("s3"), registry._sagemaker_client_factory


@pytest.fixture
def unwired(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process as if nothing had wired the connection yet (restored after the test)."""
    monkeypatch.setattr(lakefs, "_providers", {})
    monkeypatch.setattr(registry, "_sagemaker_client_factory", None)
    assert wired() == (None, None)


def test_import_nlpops_changes_nothing_and_the_plugin_module_wires_it() -> None:
    """A fresh interpreter: the package and its task modules import without wiring; the plugin wires."""
    script = textwrap.dedent(
        """
        import nlpops, nlpops.ledger, nlpops.dagkit, nlpops.factory
        import nlpops.sensors.new_data, nlpops.triggers.new_data, nlpops.aws.session, nlpops.aws.registry
        from include import lake
        import ml.registry as reg
        assert lake._providers == {}, f"import nlpops registered lake providers: {lake._providers}"
        assert reg._sagemaker_client_factory is None, "import nlpops installed a SageMaker client factory"
        import nlpops_plugin
        from nlpops.aws.session import s3_storage_options
        from nlpops.aws.registry import sagemaker_client
        assert lake._providers == {"s3": s3_storage_options}, lake._providers
        assert reg._sagemaker_client_factory is sagemaker_client, reg._sagemaker_client_factory
        print("ok")
        """
    )
    env = {**os.environ, "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins")}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=120
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stderr[-3000:]


def test_use_airflow_connection_is_idempotent(unwired: None) -> None:
    session.use_airflow_connection()
    session.use_airflow_connection()
    assert wired() == (session.s3_storage_options, aws_registry.sagemaker_client)


def test_the_dag_builder_wires_the_connection(unwired: None, lake: str) -> None:
    from nlpops.dagkit import build_profile_dags

    build_profile_dags("wiring", lambda profile, settings: None)  # type: ignore[arg-type,return-value]
    assert wired() == (session.s3_storage_options, aws_registry.sagemaker_client)


def test_the_trigger_wires_the_connection_before_its_first_look(unwired: None, lake: str) -> None:
    from nlpops.triggers.new_data import NewDataTrigger

    trigger = NewDataTrigger(prefix_uri=f"{lake}/raw/none", ledger_uri=f"{lake}/ledger/none/raw", poke_interval=0.05)

    async def first_look() -> None:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(anext(trigger.run()), 0.2)

    asyncio.run(first_look())
    assert wired() == (session.s3_storage_options, aws_registry.sagemaker_client)
