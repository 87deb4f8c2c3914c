"""The Model Ops FastAPI app, mounted by the nlpops plugin on the api-server at ``/nlpops``.

Thin by design: :mod:`nlpops.ui.model_ops` builds the summary, :mod:`nlpops.ui.render`
writes the HTML. Routes (relative to the mount point):

- ``/``: the Model Ops page (HTML);
- ``/api/profiles``: the same summary as JSON;
- ``/reports/<key>``: a file of the lake's ``reports`` zone, read through ``include.lake``
  (``file://`` or ``s3://`` with the Airflow AWS connection) and proxied — nothing outside
  that zone, no traversal, no presigned URL handed out;
- ``/transform/<profile>/<job>``: the summary of one batch transform job (its manifest);
- ``/static/gx/<host>/<path>``: the CSS, JS and fonts GX Data Docs pages load from public CDNs,
  shipped with the project (``static/gx``, same versions; licenses in ``static/gx/LICENSES``):
  HTML reports are served with those CDN URLs pointed here, so Data Docs work with no network;
- ``/icon.svg``: the nav icon.

Airflow does not protect a plugin's FastAPI app: every route here checks the caller with
the api-server's auth manager (the UI's ``_token`` cookie or an ``Authorization: Bearer``
token, as the REST API does) and requires read access to DAGs.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from include.lake import LakePathError
from include.settings import Settings, get_settings
from nlpops.ui import model_ops, render

ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" fill="none" stroke="#017cee" '
    'stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M3 3v18h18"/>'
    '<path d="M7 15l4-4 3 3 6-6"/><circle cx="20" cy="8" r="1.5"/></svg>'
)


#: the CDN files GX Data Docs load, mirrored as ``<host>/<path>`` of their URL
GX_ASSETS = Path(__file__).resolve().parent / "static" / "gx"
_CDN_URL = re.compile(
    r"https://((?:cdn\.jsdelivr\.net|cdnjs\.cloudflare\.com|code\.jquery\.com|maxcdn\.bootstrapcdn\.com"
    r"|stackpath\.bootstrapcdn\.com|unpkg\.com)/[^\"'\s)<>]+)"
)
_ASSET_TYPES = {".css": "text/css", ".js": "text/javascript", ".woff2": "font/woff2"}


def gx_asset(rel: str) -> Path | None:
    """The shipped copy of the CDN file ``<host>/<path>``, or None (also for anything outside ``GX_ASSETS``)."""
    path = (GX_ASSETS / rel).resolve()
    return path if path.is_relative_to(GX_ASSETS) and path.is_file() else None


def offline_assets(page: bytes, static_base: str) -> bytes:
    """``page`` with every CDN URL that the project ships pointed at ``static_base`` (``…/static/gx``)."""
    text = page.decode("utf-8", errors="surrogateescape")

    def local(m: re.Match[str]) -> str:
        return f"{static_base}/{m.group(1)}" if gx_asset(m.group(1)) else m.group(0)

    return _CDN_URL.sub(local, text).encode("utf-8", errors="surrogateescape")


class NotAuthenticatedError(Exception):
    """The request carries no valid Airflow token (the HTML page redirects to the login)."""


async def authorize(request: Request) -> None:
    """Allow only a logged-in Airflow user who may read DAGs (Airflow does not guard plugin apps).

    Uses the api-server's own ``get_user`` (bearer token first, then the UI's cookie) and
    its auth manager, imported here so that loading the plugin elsewhere stays cheap.
    """
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.core_api.security import get_user
    from fastapi.security import HTTPAuthorizationCredentials

    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    bearer = HTTPAuthorizationCredentials(scheme=scheme, credentials=token) if scheme.lower() == "bearer" else None
    try:
        user = await get_user(request, None, bearer)
    except HTTPException as exc:
        if exc.status_code == 401:
            raise NotAuthenticatedError(str(exc.detail)) from None
        raise
    if not get_auth_manager().is_authorized_dag(method="GET", user=user):
        raise HTTPException(status_code=403, detail="reading DAGs is needed to see Model Ops")


def _login_redirect(request: Request) -> Response:
    if "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"detail": "Not authenticated"}, status_code=401)
    try:
        from airflow.api_fastapi.app import get_auth_manager

        login = get_auth_manager().get_url_login(next_url=str(request.url))
    except Exception:  # no auth manager in this process: a plain 401
        return JSONResponse({"detail": "Not authenticated"}, status_code=401)
    return RedirectResponse(login, status_code=303)


def create_app(
    settings_factory: Callable[[], Settings] = get_settings,
    registry_factory: Callable[[Settings], Any] | None = None,
    *,
    decisions: int = 5,
) -> FastAPI:
    """The Model Ops app. Tests pass their own settings and registry factories."""
    app = FastAPI(
        title="nlpops Model Ops",
        description="Champion and challenger per profile, drift decisions, and the reports behind them.",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(authorize)],
    )

    @app.exception_handler(NotAuthenticatedError)
    async def _not_authenticated(request: Request, exc: NotAuthenticatedError) -> Response:
        return _login_redirect(request)

    def summary() -> model_ops.ModelOpsSummary:
        return model_ops.build_summary(settings_factory(), registry_factory=registry_factory, decisions=decisions)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> HTMLResponse:
        """The Model Ops page."""
        # registry and lake reads block: keep them off the api-server's event loop
        result = await asyncio.to_thread(summary)
        return HTMLResponse(render.render_page(result), headers={"Cache-Control": "no-store"})

    @app.get("/api/profiles")
    async def profiles() -> JSONResponse:
        """The summary as JSON (same content as the page)."""
        result = await asyncio.to_thread(summary)
        return JSONResponse(result.to_dict(), headers={"Cache-Control": "no-store"})

    @app.get("/reports/{key:path}")
    async def report(key: str, request: Request) -> Response:
        """One file of the reports zone (evaluation, drift, GX Data Docs and their assets)."""
        try:
            data, ctype = await asyncio.to_thread(model_ops.read_report, settings_factory(), key)
        except LakePathError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        except model_ops.ReportNotFoundError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        if ctype.startswith("text/html"):  # GX Data Docs: their CDN assets from the project (offline)
            data = offline_assets(data, f"{request.scope.get('root_path', '')}/static/gx")
        # Reports are the project's own pages; still, nothing they contain may reach other origins.
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}
        return Response(content=data, media_type=ctype, headers=headers)

    @app.get("/static/gx/{rel:path}")
    async def gx_static(rel: str) -> Response:
        """A CSS, JS or font file GX Data Docs would load from a CDN, shipped with the project."""
        path = gx_asset(rel)
        if path is None:
            raise HTTPException(status_code=404, detail=f"not a shipped Data Docs asset: {rel}")
        ctype = _ASSET_TYPES.get(path.suffix, "text/javascript" if "." not in path.name else "application/octet-stream")
        headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "max-age=86400"}
        return Response(content=path.read_bytes(), media_type=ctype, headers=headers)

    @app.get("/transform/{profile}/{job_name}", response_class=HTMLResponse)
    async def transform(profile: str, job_name: str) -> HTMLResponse:
        """Summary of one batch transform job (input files, records, scored, errors)."""
        try:
            manifest = await asyncio.to_thread(model_ops.transform_job, settings_factory(), profile, job_name)
        except LakePathError as exc:
            raise HTTPException(status_code=400, detail=str(exc)) from None
        except model_ops.ReportNotFoundError as exc:
            raise HTTPException(status_code=404, detail=str(exc)) from None
        return HTMLResponse(render.render_transform(profile, job_name, manifest))

    @app.get("/icon.svg")
    async def icon() -> Response:
        return Response(ICON, media_type="image/svg+xml")

    return app


app = create_app()

__all__ = ["app", "authorize", "create_app"]
