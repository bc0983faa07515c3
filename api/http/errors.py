"""How errors become HTTP replies: status per error code, the JSON body, OpenAPI docs.

The statuses are the error classes' own (analyzers/errors.py, api/errors.py); this is
the only module that turns them into replies.
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from analyzers.errors import AnalyzerError
from api.errors import REQUEST_STATUS, JobError
from api.http.schemas import ErrorBody


def family(cls: type[AnalyzerError] = AnalyzerError) -> list[type[AnalyzerError]]:
    """Every class under ``cls`` in the error family, depth first."""
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *family(sub)]
    return found


#: HTTP status for each error code (a stored job keeps only its code); unknown codes are 500
STATUS_BY_CODE = {
    **{cls.code: cls.status for cls in family() if cls is not JobError},
    **REQUEST_STATUS,
}


def status_for(code: str) -> int:
    return STATUS_BY_CODE.get(code, 500)


def error_reply(exc: AnalyzerError) -> JSONResponse:
    """The one way an error of the family becomes an HTTP reply."""
    # A refusal that will pass by itself says when to come back.
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after is not None else None
    return error_response(exc.status, exc.code, exc.message, headers, exc.job_id)


def error_response(
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    job_id: str | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {"code": code, "message": message}
    if job_id:
        error["job_id"] = job_id
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def error_docs(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Missing or empty file, malformed form, both file and url, a link not allowed",
        404: "No such job (or no such keyframe)",
        409: "Not cancellable (running or ended), cancelled, or no result yet",
        413: "Upload larger than the size limit",
        415: "Not a video, a link to a web page, or not multipart/form-data",
        422: "Invalid option (unknown aspect, frames out of range), audio only, too long,"
        " undecodable, or a link that could not be downloaded in time",
        429: "Too many wrong API keys from this address (see Retry-After)",
        500: "Analysis failed on the server",
        502: "The worker crashed twice on this video",
        503: "Queue full or shutting down (see Retry-After)",
        504: "The analysis ran past its time limit",
        507: "The disk cannot take the upload or the change; retry later",
    }
    return {c: {"model": ErrorBody, "description": text[c]} for c in codes}
