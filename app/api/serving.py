"""What every HTTP surface serves a request with: the settings, the registry of models and the
scorer the request names (by its `/v1/models/{model_name}/...` path, else the default), and the
scoring call that counts in the metrics. The API's routes and the pages all go through here.
"""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
from fastapi import Request

from app.api.errors import ModelNotReadyError
from app.config import Settings
from app.inference.registry import ModelRegistry
from app.inference.scoring import OperatingPoint, Scorer, Scores
from app.ops.telemetry import Telemetry, record_scoring

MODEL_NAME_PARAM = "model_name"


def loaded_registry(request: Request) -> ModelRegistry:
    registry: ModelRegistry | None = request.app.state.registry
    if registry is None:
        raise ModelNotReadyError
    return registry


def loaded_scorer(request: Request) -> Scorer:
    """The scorer of the model the path names (`/v1/models/{model_name}/...`), else the default
    one; `UnknownModelError` (404) for a name the registry does not hold."""
    return loaded_registry(request).get(request.path_params.get(MODEL_NAME_PARAM))


def score_beats(
    request: Request,
    scorer: Scorer,
    beats: npt.NDArray[np.float32],
    point: OperatingPoint,
    model: str | None = None,
) -> Scores:
    """Score beats, and count them (and the abnormal ones) in the metrics and the log line, under
    `model` (by default the model the request's path names)."""
    started = time.perf_counter()
    scores = scorer.score(beats)
    inference_s = time.perf_counter() - started
    abnormal = int(np.count_nonzero(scores.is_anomaly(point.threshold)))
    telemetry: Telemetry = request.app.state.telemetry
    scored = (len(beats), abnormal)
    label = model or model_name_of(request)
    record_scoring(request.scope, telemetry, label, scored, inference_s)
    return scores


def model_name_of(request: Request) -> str:
    """The name of the model a request is addressed to (the default one's when unnamed)."""
    name: str | None = request.path_params.get(MODEL_NAME_PARAM)
    return name or loaded_registry(request).default_name


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings
