"""The Open Inference Protocol (KServe V2 REST API), beside the service's own /v1 API.

What KServe, Triton clients (`tritonclient[http]`) and model-server tooling speak: server and
model health and metadata, and `POST /v2/models/{name}/infer` with the beats as one FP32 input of
shape `[n, 140]`, answered with two outputs per beat, `reconstruction_error` (FP64, the same MAE
as /v1/predict) and `is_anomaly` (BOOL, against the model's threshold). The binary tensor data
extension is supported both ways. Every model of the registry answers by its name, and the
default one also by ECG_MODEL_NAME; each has one version, its `model_version`. Errors are
`{"error": "..."}`, the protocol's own form (`app.api.errors`). Not in the OpenAPI document: the
protocol has its own specification.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.api.routes import RawRequestRoute
from app.api.serving import score_beats, settings_of
from app.inference.registry import ModelRegistry, UnknownModelError
from app.inference.scoring import Scorer, Scores, UnscorableBeatsError, operating_point
from app.inputs.inference_protocol import (
    ERROR_OUTPUT,
    INPUT_DATATYPE,
    INPUT_NAME,
    OUTPUT_DATATYPES,
    VERDICT_OUTPUT,
    InferenceProtocolError,
    decode_inference_request,
)

SERVER_NAME = "ecg-anomaly"
SERVER_VERSION = "0.1.0"
EXTENSIONS = ["binary_tensor_data"]
HEADER_LENGTH = "inference-header-content-length"
PLATFORM = "onnxruntime_onnx"

inference_protocol_router = APIRouter(
    prefix="/v2", route_class=RawRequestRoute, include_in_schema=False
)


def json_response(body: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def ready_registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry | None = request.app.state.registry
    if registry is None:
        raise InferenceProtocolError(503, "the model is not loaded yet")
    return registry


def registry_name(request: Request) -> str:
    """The registry's name of the model the path names (ECG_MODEL_NAME: the default model)."""
    name: str = request.path_params["name"]
    if name == settings_of(request).model_name:
        return ready_registry(request).default_name
    return name


def served_model(request: Request) -> Scorer:
    """The scorer of the model the path names (and, if it names one, its version)."""
    name = request.path_params["name"]
    registry = ready_registry(request)
    try:
        scorer = registry.get(registry_name(request))
    except UnknownModelError as exc:
        served = ", ".join([settings_of(request).model_name, *exc.available])
        raise InferenceProtocolError(
            404, f"unknown model {name!r}; this server serves {served}"
        ) from None
    version = request.path_params.get("version")
    if version is not None and version != scorer.metadata.model_version:
        raise InferenceProtocolError(
            404,
            f"unknown version {version!r} of model {name!r}; "
            f"the one served is {scorer.metadata.model_version!r}",
        )
    return scorer


@inference_protocol_router.get("")
async def server_metadata(_: Request) -> Response:
    return json_response({"name": SERVER_NAME, "version": SERVER_VERSION, "extensions": EXTENSIONS})


@inference_protocol_router.get("/health/live")
async def server_live(_: Request) -> Response:
    return json_response({"live": True})


@inference_protocol_router.get("/health/ready")
async def server_ready(request: Request) -> Response:
    ready = request.app.state.registry is not None
    return json_response({"ready": ready}, 200 if ready else 503)


@inference_protocol_router.get("/models/{name}")
@inference_protocol_router.get("/models/{name}/versions/{version}")
async def model_metadata(request: Request) -> Response:
    scorer = served_model(request)
    return json_response(
        {
            "name": request.path_params["name"],
            "versions": [scorer.metadata.model_version],
            "platform": PLATFORM,
            "inputs": [
                {"name": INPUT_NAME, "datatype": INPUT_DATATYPE, "shape": [-1, scorer.input_length]}
            ],
            "outputs": [
                {"name": name, "datatype": datatype, "shape": [-1]}
                for name, datatype in OUTPUT_DATATYPES.items()
            ],
        }
    )


@inference_protocol_router.get("/models/{name}/ready")
@inference_protocol_router.get("/models/{name}/versions/{version}/ready")
async def model_ready(request: Request) -> Response:
    served_model(request)
    return json_response({"name": request.path_params["name"], "ready": True})


@inference_protocol_router.post("/models/{name}/infer")
@inference_protocol_router.post("/models/{name}/versions/{version}/infer")
async def infer(request: Request) -> Response:
    scorer = served_model(request)
    encoding = request.headers.get("content-encoding", "identity").lower()
    if encoding != "identity":
        raise InferenceProtocolError(
            415, f"header Content-Encoding: {encoding!r} is not supported; send the body as is"
        )
    decoded = decode_inference_request(
        await request.body(),
        request.headers.get(HEADER_LENGTH),
        scorer.input_length,
        settings_of(request).max_beats,
    )
    point = operating_point(scorer.metadata)
    try:
        scores = score_beats(request, scorer, decoded.beats, point, registry_name(request))
    except UnscorableBeatsError as exc:
        beats = ", ".join(str(index) for index in exc.indices[:20])
        raise InferenceProtocolError(
            400,
            f"inputs[0].data: beats {beats} have samples too large for the model to score "
            "(its arithmetic overflows)",
        ) from None
    outputs = {ERROR_OUTPUT: scores.errors, VERDICT_OUTPUT: scores.is_anomaly(point.threshold)}
    header: dict[str, Any] = {
        "model_name": request.path_params["name"],
        "model_version": scorer.metadata.model_version,
        "parameters": {"threshold": point.threshold, "threshold_rule": point.rule},
        "outputs": [],
    }
    if decoded.request_id is not None:
        header["id"] = decoded.request_id
    return infer_response(header, scores, outputs, decoded.outputs, decoded.binary_outputs)


def infer_response(
    header: dict[str, Any],
    scores: Scores,
    values: dict[str, np.ndarray[Any, Any]],
    names: tuple[str, ...],
    binary_names: frozenset[str],
) -> Response:
    """The outputs asked for: in the JSON, or as raw little-endian bytes after it."""
    shape = [len(scores.errors)]
    binary_parts: list[bytes] = []
    for name in names:
        tensor: dict[str, Any] = {"name": name, "datatype": OUTPUT_DATATYPES[name], "shape": shape}
        if name in binary_names:
            raw = values[name].astype("<f8" if name == ERROR_OUTPUT else np.bool_).tobytes()
            tensor["parameters"] = {"binary_data_size": len(raw)}
            binary_parts.append(raw)
        else:
            tensor["data"] = values[name].tolist()
        header["outputs"].append(tensor)
    json_part = orjson.dumps(header)
    if not binary_parts:
        return Response(json_part, media_type="application/json")
    return Response(
        b"".join([json_part, *binary_parts]),
        media_type="application/octet-stream",
        headers={HEADER_LENGTH: str(len(json_part))},
    )
