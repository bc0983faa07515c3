"""The OpenAPI document made exact: our error body everywhere, headers, limits, security."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.http.guards import WRITE_METHODS
from api.http.middleware import OPEN_PATHS
from api.settings import Settings

ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
ERROR_CONTENT = {"application/json": {"schema": ERROR_REF}}
RETRY_AFTER = {
    "description": "seconds to wait before trying again (or polling again)",
    "schema": {"type": "integer", "minimum": 1},
}
FOREIGN_ORIGIN = {"description": "Sent by a browser from another origin (forbidden_origin)"}
TOO_MANY = {"description": "Too many wrong API keys from this address (see Retry-After)"}
LOCATION = {"description": "the job to poll: /jobs/{id}", "schema": {"type": "string"}}


def build_openapi(app: FastAPI, settings: Settings) -> dict[str, Any]:
    """FastAPI's document, with every error response in the real body shape."""
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    # FastAPI's default 422 body ({"detail": [...]}) is never sent: our handler answers.
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            if method.upper() in WRITE_METHODS:
                operation.setdefault("responses", {})["403"] = FOREIGN_ORIGIN
            _fix_responses(operation.get("responses", {}))
            _limit_parameters(operation, settings)
    if settings.api_key_if_set is not None:
        _add_security(schema)
    return json.loads(json.dumps(schema))  # type: ignore[no-any-return]


def _fix_responses(responses: dict[str, Any]) -> None:
    for status, response in responses.items():
        # Error statuses get our body, except those documented with a body of their own
        # (/health's 503 is the health report).
        if status.startswith(("4", "5")) and (
            "content" not in response or "HTTPValidationError" in json.dumps(response)
        ):
            response["content"] = ERROR_CONTENT
        if status == "202":
            response["headers"] = {"Location": LOCATION, "Retry-After": RETRY_AFTER}
        if status in ("429", "503"):
            response.setdefault("headers", {})["Retry-After"] = RETRY_AFTER


def _limit_parameters(operation: dict[str, Any], settings: Settings) -> None:
    """Bounds that depend on the settings (FastAPI only knows the static ones)."""
    for parameter in operation.get("parameters", []):
        if parameter["name"] == "frames":
            _bound_frames(parameter["schema"], settings.max_frames)
    body = operation.get("requestBody", {}).get("content", {}).get("multipart/form-data", {})
    frames = body.get("schema", {}).get("properties", {}).get("frames")
    if frames is not None:
        _bound_frames(frames, settings.max_frames)


def _bound_frames(schema: dict[str, Any], maximum: int) -> None:
    for option in schema.get("anyOf", [schema]):
        if option.get("type") == "integer":
            option["minimum"], option["maximum"] = 1, maximum


def _add_security(schema: dict[str, Any]) -> None:
    schema["components"]["securitySchemes"] = {
        "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "BearerAuth": {"type": "http", "scheme": "bearer"},
    }
    schema["security"] = [{"ApiKeyHeader": []}, {"BearerAuth": []}]
    unauthorized = {"description": "Missing or wrong API key", "content": ERROR_CONTENT}
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            if path in OPEN_PATHS:
                operation["security"] = []
            else:
                operation.setdefault("responses", {})["401"] = unauthorized
                operation["responses"]["429"] = {**TOO_MANY, "content": ERROR_CONTENT}
                operation["responses"]["429"]["headers"] = {"Retry-After": RETRY_AFTER}
