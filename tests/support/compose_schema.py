"""The part of the Compose specification's JSON schema that compose.yaml uses.

Debian's podman-compose (1.0.3) has no `config` command and no profiles, and the full
schema is not on this disk: this subset, taken from compose-spec's schema, checks every key
compose.yaml writes (unknown keys are refused, as `docker compose config` refuses them).
"""

from __future__ import annotations

from typing import Any

_STRINGS = {"type": "array", "items": {"type": "string"}}
_STRING_OR_LIST = {"oneOf": [{"type": "string"}, _STRINGS]}
_DURATION = {"type": "string", "pattern": r"^(\d+(\.\d+)?(us|ms|s|m|h))+$"}

_DEVICE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "driver": {"type": "string"},
        "count": {"oneOf": [{"type": "integer"}, {"type": "string", "enum": ["all"]}]},
        "device_ids": _STRINGS,
        "capabilities": _STRINGS,
        "options": {"type": "object"},
    },
    "required": ["capabilities"],
}

_DEPLOY = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "resources": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "limits": {"type": "object"},
                "reservations": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "cpus": {"type": ["string", "number"]},
                        "memory": {"type": "string"},
                        "devices": {"type": "array", "items": _DEVICE},
                    },
                },
            },
        },
        "replicas": {"type": "integer"},
    },
}

_BUILD = {
    "oneOf": [
        {"type": "string"},
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "context": {"type": "string"},
                "dockerfile": {"type": "string"},
                "args": {"type": "object", "additionalProperties": {"type": ["string", "number"]}},
                "target": {"type": "string"},
            },
        },
    ]
}

_SERVICE = {
    "type": "object",
    "additionalProperties": False,
    "patternProperties": {"^x-": {}},
    "properties": {
        "image": {"type": "string"},
        "build": _BUILD,
        "command": _STRING_OR_LIST,
        "entrypoint": _STRING_OR_LIST,
        "environment": {"type": ["object", "array"]},
        "env_file": _STRING_OR_LIST,
        "ports": {"type": "array", "items": {"type": ["string", "integer"]}},
        "volumes": _STRINGS,
        "profiles": _STRINGS,
        "depends_on": {"type": ["array", "object"]},
        "deploy": _DEPLOY,
        "restart": {"enum": ["no", "always", "on-failure", "unless-stopped"]},
        "shm_size": {"type": ["string", "integer"]},
        "stop_grace_period": _DURATION,
        "healthcheck": {"type": "object"},
        "init": {"type": "boolean"},
    },
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "patternProperties": {"^x-": {}},
    "properties": {
        "name": {"type": "string"},
        "services": {"type": "object", "additionalProperties": _SERVICE},
        "volumes": {"type": "object", "additionalProperties": {"type": ["object", "null"]}},
        "networks": {"type": "object"},
    },
    "required": ["services"],
}
