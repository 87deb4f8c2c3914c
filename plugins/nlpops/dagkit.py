"""What every nlpops DAG file shares: default args, assets, run keys, docs.

Cheap to import (DAG files import it at parse time): no pandas, Spark, GX, boto3.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from include.naming import run_key

if TYPE_CHECKING:
    from airflow.sdk import Asset

    from include.profiles import Profile
    from include.settings import Settings

#: Kinds of asset each profile produces. Assets are identified by name only
#: (``nlpops.<profile>.<kind>``): the identity does not change with the target or lake URI,
#: and a URI with a scheme would make Airflow load every provider's URI handler (boto3
#: among them) while a DAG file is parsed.
ASSET_KINDS = ("processed", "champion", "predictions", "drift")


@dataclass(frozen=True)
class ProfileAssets:
    processed: Asset
    champion: Asset
    predictions: Asset
    drift: Asset


def profile_assets(profile_name: str) -> ProfileAssets:
    """The four assets of a profile (shared by the DAG files that produce and consume them)."""
    from airflow.sdk import Asset

    made = {kind: Asset(name=f"nlpops.{profile_name}.{kind}", group="nlpops") for kind in ASSET_KINDS}
    return ProfileAssets(**made)


def default_args(profile: Profile, settings: Settings, *, retries: int = 2) -> dict[str, Any]:
    """Owner, retries with back-off and the failure notifier, the same for every DAG."""
    from nlpops.notifiers.callbacks import on_task_failure

    return {
        "owner": settings.owner,
        "retries": retries,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=15),
        "execution_timeout": timedelta(hours=1),
        "on_failure_callback": on_task_failure,
    }


def context_run_key(context: Any) -> str:
    """The run key of the running task's DAG run (logical date, else the run id)."""
    return run_key(context.get("run_id"), context.get("logical_date"))


def tags(profile: Profile, kind: str) -> list[str]:
    return ["nlpops", kind, f"profile:{profile.name}", *profile.tags]
