"""HTTP routes: thin functions that hand work to the scorer and shape its answer."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from app.config import Settings
from app.errors import ModelNotReadyError, TooManyBeatsError
from app.schemas import Health, ModelInfo, PredictRequest, PredictResponse, Problem, Readiness
from app.scoring import Scorer, beats_to_matrix

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


ScorerDep = Annotated[Scorer, Depends(get_scorer)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


@router.post("/v1/predict", response_model=PredictResponse, responses=PROBLEMS, tags=["scoring"])
def predict(body: PredictRequest, scorer: ScorerDep, settings: SettingsDep) -> PredictResponse:
    """Score each beat: its reconstruction error (MAE) and a verdict against the threshold."""
    if len(body.beats) > settings.max_beats:
        raise TooManyBeatsError(len(body.beats), settings.max_beats)
    scores = scorer.score(beats_to_matrix(body.beats, scorer.input_length))
    return PredictResponse.from_scores(scorer.metadata, scores.errors, scores.is_anomaly)


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
