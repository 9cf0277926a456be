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
        _describe_beats(schema, metadata.input_length)
        recording_json = schema["paths"]["/v1/recordings"]["post"]["requestBody"]["content"]
        recording_json["application/json"]["example"] = _recording_example(metadata)
    return schema


def _enumerate_model_names(schema: dict[str, Any], names: list[str]) -> None:
    for operations in schema["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path" and parameter.get("name") == "model_name":
                    parameter["schema"] = {"type": "string", "enum": list(names)}


# What the documents promise the service scores: samples within this magnitude (ECG samples are
# millivolts or z-scores). Larger ones are scored too, unless the model's arithmetic overflows.
SAMPLE_BOUND = 1e6
# A CSV sample as the CSV schema's pattern states it: at most 6 integer digits, so below the bound
_CSV_NUMBER = r"-?(0|[1-9][0-9]{0,5})(\.[0-9]{1,6})?"


def _describe_beats(schema: dict[str, Any], input_length: int) -> None:
    """Beats of the loaded model's input length (other lengths need `resample=true`), with
    bounded samples, in JSON and in CSV; so every request the document calls valid is scored."""
    beat = schema["components"]["schemas"]["PredictRequest"]["properties"]["beats"]["items"]
    beat["minItems"] = beat["maxItems"] = input_length
    beat["items"].update(minimum=-SAMPLE_BOUND, maximum=SAMPLE_BOUND)
    csv_text = {
        "type": "string",
        "pattern": csv_pattern(input_length),
        "description": f"Rows of {input_length} comma-separated numbers, one beat per line. The "
        "service also reads a header row, a label column, CRLF line ends, a byte order mark, and "
        "with resample=true rows of 2 to 10,000 samples; the pattern states the plain form.",
    }
    for path in ("/v1/predict/csv", "/v1/models/{model_name}/predict/csv"):
        content = schema["paths"][path]["post"]["requestBody"]["content"]
        content["text/csv"]["schema"] = csv_text
        field = content["multipart/form-data"]["schema"]["properties"]["file"]
        field.clear()
        field.update({**csv_text, "contentMediaType": "text/csv"})  # Swagger UI: a file picker


def csv_pattern(input_length: int) -> str:
    row = f"{_CSV_NUMBER}(,{_CSV_NUMBER}){{{input_length - 1}}}"
    return rf"^{row}(\n{row})*\n?$"


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
    if examples.abnormal is None:  # no labels, or the mean abnormal beat scored normal
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
