"""``/session``: whether the web page needs a key, and the session cookie that stands in for it."""

from __future__ import annotations

import hmac

import anyio.to_thread
from fastapi import APIRouter, Request, Response

from api.errors import UnauthorizedError
from api.http.context import Ctx
from api.http.errors import error_docs
from api.http.middleware import SESSION_COOKIE
from api.http.schemas import ErrorBody
from api.http.schemas_web import SessionIn, SessionOut
from api.http.throttle import client_address

router = APIRouter()


@router.get(
    "/session",
    summary="Whether an API key is needed, and whether this browser's session is live",
)
async def get_session(ctx: Ctx, request: Request) -> SessionOut:
    if ctx.sessions is None:
        return SessionOut(key_required=False, authenticated=True)
    token = request.cookies.get(SESSION_COOKIE, "")
    valid = bool(token) and await anyio.to_thread.run_sync(ctx.sessions.valid, token)
    return SessionOut(key_required=True, authenticated=valid)


@router.post(
    "/session",
    summary="Check an API key; if right, start a session (an HttpOnly cookie) for the web page",
    responses={
        401: {"model": ErrorBody, "description": "Wrong API key"},
        **error_docs(422, 429),
    },
)
async def post_session(
    ctx: Ctx, body: SessionIn, request: Request, response: Response
) -> SessionOut:
    key = ctx.settings.api_key_if_set
    if key is None or ctx.sessions is None:
        return SessionOut(key_required=False, authenticated=True)
    client = client_address(request.scope)
    ctx.throttle.check(client)
    if not hmac.compare_digest(body.api_key.encode(), key.encode()):
        ctx.throttle.fail(client)
        raise UnauthorizedError("wrong API key")
    token = await anyio.to_thread.run_sync(ctx.sessions.create)
    # A random token the server keeps (never the key); Strict keeps it off requests other
    # sites start, HttpOnly keeps it from scripts. The server ends it (idle or absolute).
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(ctx.settings.session_max_age_s),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return SessionOut(key_required=True, authenticated=True)


@router.delete("/session", summary="End this browser's session and forget its cookie")
async def delete_session(ctx: Ctx, request: Request, response: Response) -> SessionOut:
    token = request.cookies.get(SESSION_COOKIE, "")
    if ctx.sessions is not None and token:
        await anyio.to_thread.run_sync(ctx.sessions.revoke, token)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    key_required = ctx.sessions is not None
    return SessionOut(key_required=key_required, authenticated=not key_required)
