"""The web page at / and the API docs, every asset served by the app (no CDN)."""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from api.http.guards import DOCS_CSP

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"

router = APIRouter(include_in_schema=False)


@cache
def _page_html() -> bytes:
    # The script and style URLs carry a hash of their content: a new release is never
    # mixed with a cached old script.
    digest = hashlib.sha256()
    # Every script and style the page loads (app.js and the scripts loaded after it).
    for path in sorted(STATIC_DIR.glob("*.js")) + sorted(STATIC_DIR.glob("*.css")):
        digest.update(path.read_bytes())
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return html.replace("__ASSETS__", digest.hexdigest()[:12]).encode()


@router.api_route("/", methods=["GET", "HEAD"])
async def page() -> Response:
    # Revalidated on each load (the shell is small).
    return Response(_page_html(), media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.api_route("/favicon.ico", methods=["GET", "HEAD"])
async def favicon() -> FileResponse:
    return FileResponse(STATIC_DIR / "favicon.svg", media_type="image/svg+xml")


@router.get("/docs")
async def swagger_ui() -> FileResponse:
    # Our own HTML with an external init script: FastAPI's has an inline one (CSP).
    return _docs_page("swagger.html")


@router.get("/redoc")
async def redoc() -> FileResponse:
    return _docs_page("redoc.html")


def _docs_page(name: str) -> FileResponse:
    return FileResponse(
        STATIC_DIR / "docs" / name,
        media_type="text/html",
        headers={"Content-Security-Policy": DOCS_CSP, "Cache-Control": "no-cache"},
    )


def install_page(app: FastAPI) -> None:
    """The page, the docs pages and /static (public: no data in any of them)."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
