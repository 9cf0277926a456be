"""HTTP routes: thin functions that hand work to the scorer and shape its answer."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from app.config import Settings
from app.decoding import BINARY_TYPE, decode_beats
from app.errors import ModelNotReadyError
from app.schemas import (
    Health,
    ModelInfo,
    PredictResponse,
    Problem,
    Readiness,
    predict_response_body,
)
from app.scoring import Scorer, operating_point

router = APIRouter()
PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}}
    for status in (400, 413, 415, 422)
}


def get_scorer(request: Request) -> Scorer:
    scorer: Scorer | None = request.app.state.scorer
    if scorer is None:
        raise ModelNotReadyError
    return scorer


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


K_HELP = (
    "Another operating point: threshold = mean + k * std of the training normal beats' error "
    "(see training_errors in /v1/model). Higher k: fewer alarms."
)
THRESHOLD_HELP = "Another operating point: this reconstruction-error threshold."
EXPLAIN_HELP = "Also return each beat's reconstruction and per-sample error."

# The body is read raw (for speed, and for the binary form), so its schema is declared here.
PREDICT_REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}},
            BINARY_TYPE: {
                "schema": {"type": "string", "format": "binary"},
                "description": "Beats as little-endian float32 rows of the model's input length.",
            },
        },
    }
}


def json_response(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


ScorerDep = Annotated[Scorer, Depends(get_scorer)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


@router.post(
    "/v1/predict",
    response_model=PredictResponse,
    responses=PROBLEMS,
    tags=["scoring"],
    openapi_extra=PREDICT_REQUEST_BODY,
)
async def predict(
    request: Request,
    scorer: ScorerDep,
    settings: SettingsDep,
    k: Annotated[float | None, Query(ge=0, le=100, allow_inf_nan=False, description=K_HELP)] = None,
    threshold: Annotated[
        float | None, Query(gt=0, allow_inf_nan=False, description=THRESHOLD_HELP)
    ] = None,
    explain: Annotated[bool, Query(description=EXPLAIN_HELP)] = False,
) -> Response:
    """Score each beat: its reconstruction error (MAE) and a verdict against the threshold.

    The body is JSON, `{"beats": [[...], ...]}`, or raw little-endian float32 rows of the model's
    input length (`application/octet-stream`).
    """
    point = operating_point(scorer.metadata, k=k, threshold=threshold)
    body = await request.body()
    content_type = request.headers.get("content-type")
    beats = decode_beats(body, content_type, scorer.input_length, settings.max_beats)
    scores = scorer.score(beats)
    return json_response(predict_response_body(scorer.metadata, scores, point, explain))


@router.get("/v1/model", response_model=ModelInfo, tags=["model"])
def model_info(scorer: ScorerDep) -> ModelInfo:
    """What a client needs to know about the loaded model."""
    return ModelInfo.from_metadata(scorer.metadata)


@router.get("/health", response_model=Health, tags=["operations"])
def health() -> Health:
    """Liveness: the process answers."""
    return Health()


@router.get("/ready", response_model=Readiness, tags=["operations"])
def ready(request: Request) -> JSONResponse:
    """Readiness: 200 once a model is loaded, 503 before."""
    scorer: Scorer | None = request.app.state.scorer
    if scorer is None:
        return JSONResponse(Readiness(status="loading").model_dump(), status_code=503)
    body = Readiness(status="ready", model_version=scorer.metadata.model_version)
    return JSONResponse(body.model_dump())
