"""`make serve`: the current champion behind SageMaker's serving contract on 127.0.0.1.

Resolves, in this order, the accepted tokens: ``NLPOPS_SERVING_TOKEN_FILE``, then
``NLPOPS_SERVING_TOKEN``, then the Airflow connection ``NLPOPS_SERVING_CONN_ID`` (login =
caller, password = token; e.g. ``AIRFLOW_CONN_NLPOPS_SERVING`` or one stored with ``airflow
connections add``). With none, it stops and says how to set one: the server never runs open.
The profile is ``NLPOPS_SERVING_PROFILE`` (or ``--profile``), else the only profile whose
registered model has a champion. The app polls the registry's ``champion`` alias every
``NLPOPS_SERVING_POLL_SECONDS`` and swaps in a newly promoted version without a restart.
"""

from __future__ import annotations

import argparse
import logging
import sys

from include.settings import Settings, get_settings
from ml.registry import CHAMPION, get_registry
from ml.serving.app import TokenError, create_app, log_through_queue, parse_tokens, read_token_file
from ml.serving.champion import ChampionWatcher, ModelSlot, registry_champion


def tokens_from_connection(conn_id: str) -> dict[str, str]:
    """``{password: login or 'default'}`` of the Airflow connection ``conn_id``; {} when it does not exist."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.models.connection import Connection

    try:
        conn = Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        return {}
    if not conn.password:
        raise TokenError(f"Airflow connection {conn_id!r} has no password: put the token there")
    return parse_tokens(f"{conn.login or 'default'} {conn.password}", f"Airflow connection {conn_id!r}")


def resolve_tokens(settings: Settings) -> dict[str, str]:
    """The accepted tokens (see the module docstring for the order); raises :class:`TokenError` if none."""
    if settings.serving_token_file:
        return read_token_file(settings.serving_token_file)
    if settings.serving_token:
        return parse_tokens(settings.serving_token, "NLPOPS_SERVING_TOKEN")
    if settings.serving_conn_id:
        found = tokens_from_connection(settings.serving_conn_id)
        if found:
            return found
    raise TokenError(
        "no serving token: set NLPOPS_SERVING_TOKEN_FILE (lines '<caller> <token>'), NLPOPS_SERVING_TOKEN, or "
        f"an Airflow connection {settings.serving_conn_id or 'nlpops_serving'!r} whose password is the token"
    )


def resolve_profile(settings: Settings, registry: object, given: str | None) -> str:
    """The profile to serve: the argument, ``NLPOPS_SERVING_PROFILE``, else the only one with a champion."""
    if given or settings.serving_profile:
        return str(given or settings.serving_profile)
    from include.profiles import enabled_profiles

    names = list(enabled_profiles(settings))
    with_champion = [n for n in names if registry.get_by_alias(n, CHAMPION) is not None]  # type: ignore[attr-defined]
    if len(with_champion) == 1:
        return with_champion[0]
    raise SystemExit(
        f"serve: {len(with_champion)} profiles have a champion ({', '.join(with_champion) or 'none'}): "
        "choose one with NLPOPS_SERVING_PROFILE=<profile> (or make serve PROFILE=<profile>)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=None, help="profile whose champion to serve")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = get_settings()
    try:
        tokens = resolve_tokens(settings)
    except TokenError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    registry = get_registry(settings)
    profile = resolve_profile(settings, registry, args.profile)
    slot = ModelSlot()
    watcher = ChampionWatcher(registry_champion(registry, profile), slot, poll_seconds=settings.serving_poll_seconds)
    app = create_app(slot, tokens, max_body_bytes=settings.serving_max_body_bytes, watcher=watcher)
    import uvicorn

    print(f"serve: profile {profile!r} on http://{settings.serving_host}:{settings.serving_port}", flush=True)
    listener = log_through_queue()  # the access log is written by a thread, not by the event loop
    try:
        uvicorn.run(app, host=settings.serving_host, port=settings.serving_port, log_level="warning", access_log=False)
    finally:
        listener.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
