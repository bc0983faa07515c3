"""How errors become HTTP replies: status per error code, the JSON body, OpenAPI docs."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from api.http.schemas import ErrorBody

#: HTTP status for each error code; anything unknown is a server-side 500
STATUS_BY_CODE = {
    "missing_file": 400,
    "empty_file": 400,
    "bad_multipart": 400,
    "too_many_files": 400,
    "file_and_url": 400,
    "url_not_allowed": 400,
    "not_found": 404,
    "job_not_found": 404,
    "frame_not_found": 404,
    "cancelled": 409,
    "not_cancellable": 409,
    "not_done": 409,
    "upload_too_large": 413,
    "field_too_large": 413,
    "not_a_video": 415,
    "not_multipart": 415,
    "not_a_video_link": 415,
    "invalid_input": 422,
    "invalid_option": 422,
    "no_video_stream": 422,
    "no_decodable_frames": 422,
    "video_too_long": 422,
    "decode_timeout": 422,
    "url_fetch_failed": 422,
    "url_timeout": 422,
    "worker_crashed": 502,
    "queue_full": 503,
    "draining": 503,
    "model_load_failed": 503,
    "model_unavailable": 503,
    "timed_out": 504,
    "insufficient_storage": 507,
}


class ApiError(Exception):
    """An error reply decided by a route."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        job_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code, self.message = code, message
        self.status = status or status_for(code)
        self.headers, self.job_id = headers, job_id


def status_for(code: str) -> int:
    return STATUS_BY_CODE.get(code, 500)


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
        500: "Analysis failed on the server",
        502: "The worker crashed twice on this video",
        503: "Queue full or shutting down (see Retry-After)",
        504: "The analysis ran past its time limit",
        507: "The disk cannot take the upload or the change; retry later",
    }
    return {c: {"model": ErrorBody, "description": text[c]} for c in codes}
