"""``/session``: whether the web page needs a key, and the cookie that stands in for it."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response

from api.errors import UnauthorizedError
from api.http.context import Ctx
from api.http.errors import error_docs
from api.http.middleware import SESSION_COOKIE, session_token
from api.http.schemas import ErrorBody
from api.http.schemas_web import SessionIn, SessionOut

router = APIRouter()

#: a week: the page asks for the key again after that (or after DELETE /session)
SESSION_MAX_AGE_S = 7 * 24 * 3600


@router.get(
    "/session",
    summary="Whether an API key is needed, and whether this browser's session cookie holds it",
)
async def get_session(ctx: Ctx, request: Request) -> SessionOut:
    key = ctx.settings.api_key_if_set
    if key is None:
        return SessionOut(key_required=False, authenticated=True)
    cookie = request.cookies.get(SESSION_COOKIE, "")
    valid = hmac.compare_digest(cookie.encode(), session_token(key).encode())
    return SessionOut(key_required=True, authenticated=valid)


@router.post(
    "/session",
    summary="Check an API key; if right, set an HttpOnly session cookie for the web page",
    responses={
        401: {"model": ErrorBody, "description": "Wrong API key"},
        **error_docs(422),
    },
)
async def post_session(
    ctx: Ctx, body: SessionIn, request: Request, response: Response
) -> SessionOut:
    key = ctx.settings.api_key_if_set
    if key is None:
        return SessionOut(key_required=False, authenticated=True)
    if not hmac.compare_digest(body.api_key.encode(), key.encode()):
        raise UnauthorizedError("wrong API key")
    # The cookie holds a value derived from the key, never the key; Strict keeps it off
    # requests other sites start, HttpOnly keeps it from scripts.
    response.set_cookie(
        SESSION_COOKIE,
        session_token(key),
        max_age=SESSION_MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return SessionOut(key_required=True, authenticated=True)


@router.delete("/session", summary="Forget this browser's session cookie")
async def delete_session(ctx: Ctx, response: Response) -> SessionOut:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    key_required = ctx.settings.api_key_if_set is not None
    return SessionOut(key_required=key_required, authenticated=not key_required)
