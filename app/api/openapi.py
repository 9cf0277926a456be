"""The OpenAPI document, with Swagger UI examples taken from the loaded model's metadata."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.api.errors import API_KEY_HEADER
from app.api.schemas import PredictRequest, RecordingBody
from app.inference.artifact import ModelMetadata

EXAMPLE_DECIMALS = 4
EXAMPLE_STRIP_BEATS = 10
API_KEY_SCHEME = "APIKeyHeader"


def build_openapi(
    app: FastAPI,
    metadata: ModelMetadata | None,
    open_paths: Collection[str] | None = None,
    model_names: list[str] | None = None,
) -> dict[str, Any]:
    """`open_paths` given: an API key is required everywhere else (ECG_API_KEY).
    `model_names`: the models served, offered as the values of `{model_name}`."""
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    _add_request_schema(schema)
    if open_paths is not None:
        _add_api_key_security(schema, open_paths)
    if model_names:
        _enumerate_model_names(schema, model_names)
    if metadata is not None:
        predict_body = schema["paths"]["/v1/predict"]["post"]["requestBody"]
        predict_body["content"]["application/json"]["examples"] = _predict_examples(metadata)
        beat = schema["components"]["schemas"]["PredictRequest"]["properties"]["beats"]["items"]
        beat["minItems"] = beat["maxItems"] = metadata.input_length  # the loaded model's
        recording_json = schema["paths"]["/v1/recordings"]["post"]["requestBody"]["content"]
        recording_json["application/json"]["example"] = _recording_example(metadata)
    return schema


def _enumerate_model_names(schema: dict[str, Any], names: list[str]) -> None:
    for operations in schema["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name") == "model_name":
                    parameter["schema"] = {"type": "string", "enum": list(names)}


def _add_request_schema(schema: dict[str, Any]) -> None:
    """`/v1/predict` and `/v1/recordings` read their bodies themselves, so FastAPI does not list
    their schemas."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    for body in (PredictRequest, RecordingBody):
        request_schema = body.model_json_schema(ref_template="#/components/schemas/{model}")
        components.update(request_schema.pop("$defs", {}))
        components[body.__name__] = request_schema


def _recording_example(metadata: ModelMetadata) -> dict[str, Any]:
    """A 250 Hz strip of the model's own normal example beat, ten times over: a recording that
    the model finds ten beats in (the service ships no patient's recording)."""
    beat = np.asarray(metadata.examples.normal)
    samples_per_beat = 205  # 0.82 s at 250 Hz, 73 beats a minute
    positions = np.arange(samples_per_beat) * len(beat) / samples_per_beat
    strip = np.tile(np.interp(positions, np.arange(len(beat)), beat), EXAMPLE_STRIP_BEATS)
    return {"sampling_rate": 250, "leads": {"ECG": np.round(strip, 3).tolist()}}


def _add_api_key_security(schema: dict[str, Any], open_paths: Collection[str]) -> None:
    """Declare the key, so that Swagger UI offers an Authorize button and sends it."""
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})[API_KEY_SCHEME] = {
        "type": "apiKey",
        "in": "header",
        "name": API_KEY_HEADER,
        "description": "The service's API key (ECG_API_KEY).",
    }
    unauthorised = {
        "description": f"The {API_KEY_HEADER} header is missing or holds the wrong key",
        "content": {
            "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
        },
    }
    for path, operations in schema["paths"].items():
        if path in open_paths:
            continue
        for operation in operations.values():
            operation["security"] = [{API_KEY_SCHEME: []}]
            operation.setdefault("responses", {})["401"] = unauthorised


def _predict_examples(metadata: ModelMetadata) -> dict[str, Any]:
    def beat(values: list[float]) -> list[float]:
        return [round(value, EXAMPLE_DECIMALS) for value in values]

    examples = metadata.examples
    normal_only = {
        "normal": {
            "summary": "A normal beat (the model's reconstruction of a typical normal beat)",
            "value": {"beats": [beat(examples.normal)]},
        }
    }
    if examples.abnormal is None:  # a baseline fitted without labels
        return normal_only
    return {  # Swagger UI fills "Try it out" with the first
        "both": {
            "summary": "A normal and an abnormal beat in one request",
            "value": {"beats": [beat(examples.normal), beat(examples.abnormal)]},
        },
        **normal_only,
        "abnormal": {
            "summary": "An abnormal beat (the mean of the training abnormal beats)",
            "value": {"beats": [beat(examples.abnormal)]},
        },
    }
