"""The one place AWS credentials for the lake come from: the Airflow connection.

Tasks, sensors and triggers read and write ``s3://`` lake URIs through ``include.lake``
(fsspec/s3fs). s3fs would otherwise use the default AWS credential chain of whatever
process runs the task; here its storage options (key, secret, session token, endpoint,
region) are derived from the Airflow connection ``settings.aws_conn_id`` (``aws_default``),
exactly as the provider's hooks see it (role assumption, endpoint override and region
included). Nothing here logs a credential.

:func:`install` registers :func:`s3_storage_options` with ``include.lake``; ``nlpops``
calls it on import, so every process that runs nlpops tasks uses the connection.
"""

from __future__ import annotations

import threading
import time
from typing import Any

#: Temporary credentials (assumed roles) last at least 15 minutes: refresh well before.
CACHE_SECONDS = 300.0

_cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def s3_storage_options(aws_conn_id: str | None = None, region_name: str | None = None) -> dict[str, Any]:
    """s3fs storage options from the Airflow AWS connection (``settings.aws_conn_id`` by default).

    Cached per connection for :data:`CACHE_SECONDS`. The listings cache is off: the
    sensor lists the same prefix again and again and must see new objects.
    """
    from include.settings import get_settings

    settings = get_settings()
    conn_id = aws_conn_id or settings.aws_conn_id
    region = region_name or settings.aws_region
    key = (conn_id, region)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return dict(hit[1])
    options = _options_from_connection(conn_id, region, settings.kms_key_arn)
    with _lock:
        _cache[key] = (now, options)
    return dict(options)


def _options_from_connection(conn_id: str, region: str, kms_key_arn: str = "") -> dict[str, Any]:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    hook = AwsBaseHook(aws_conn_id=conn_id, client_type="s3", region_name=region)
    credentials = hook.get_credentials()
    options: dict[str, Any] = {
        "key": credentials.access_key,
        "secret": credentials.secret_key,
        "use_listings_cache": False,
        "client_kwargs": {"region_name": hook.conn_region_name or region},
    }
    if credentials.token:
        options["token"] = credentials.token
    endpoint = hook.conn_config.endpoint_url
    if endpoint:
        options["endpoint_url"] = endpoint
    if kms_key_arn:
        # Ask for the lake key on every write instead of relying on the bucket default:
        # the bucket policy refuses PUTs that name another encryption or key.
        options["s3_additional_kwargs"] = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_arn}
    return options


def clear_cache() -> None:
    """Forget cached credentials (tests; after rotating the connection's keys)."""
    with _lock:
        _cache.clear()


def install() -> None:
    """Make ``include.lake`` open ``s3://`` URIs with the connection's credentials."""
    from include import lake

    lake.set_storage_options_provider("s3", s3_storage_options)


def use_airflow_connection() -> None:
    """Wire the Airflow AWS connection into ``include.lake`` (``s3://``) and ``ml.registry`` (SageMaker).

    Nothing happens on ``import nlpops``: the entry points that run nlpops code in an Airflow
    process call this explicitly (idempotent, cheap: it registers two callables and imports
    neither boto3 nor the provider): :func:`nlpops.dagkit.build_profile_dags` (every process
    that parses the DAG files: dag processor, task runner, ``airflow dags test``), the
    trigger's ``run()`` (the triggerer parses no DAG file), the Airflow plugin module (the
    api-server's Model Ops page reads the lake) and ``scripts/reprocess.py``.
    """
    from nlpops.aws.registry import install as install_registry_client

    install()
    install_registry_client()


__all__ = ["CACHE_SECONDS", "clear_cache", "install", "s3_storage_options", "use_airflow_connection"]
