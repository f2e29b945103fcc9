"""Role bodies as the OpenAPI document shows them. The engine parses them itself (its messages
name each field, and a write is checked against system limits), so a route takes a plain object
and documents the definition's own schema."""

from __future__ import annotations

from typing import Any

from keymint.engine.templates import KeyTemplate


def definition_body(model: type[KeyTemplate], example: dict[str, Any]) -> dict[str, Any]:
    """`openapi_extra` for a route whose body is `model`, named by the path."""
    schema = model.model_json_schema()
    schema["required"] = [field for field in schema.get("required", []) if field != "name"]
    schema["properties"]["name"] = {
        "type": "string",
        "description": "Optional; when given, the same as the path's name",
    }
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": schema,
                    "examples": {model.__name__: {"value": example}},
                }
            },
        }
    }
