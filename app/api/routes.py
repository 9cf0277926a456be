"""HTTP routes: thin functions that hand work to the scorer and shape its answer.

Every handler is `async def` and does its work inline: scoring is CPU-bound and short (a
1,000-beat request takes milliseconds), and measured (bench/) a thread-pool hop per request cost
more than it gave on a single-process server. Scale out with worker processes instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.datastructures import UploadFile

from app.api.schemas import (
    CsvPredictOptions,
    Health,
    ModelInfo,
    ModelList,
    ModelReload,
    ModelSummary,
    PredictOptions,
    PredictResponse,
    Problem,
    Readiness,
    predict_response_body,
)
from app.api.serving import (
    loaded_registry,
    loaded_scorer,
    score_beats,
    settings_of,
)
from app.inference.registry import ModelRegistry
from app.inference.reloading import reload_model
from app.inference.scoring import operating_point
from app.inputs.csv_input import decode_csv_beats, results_csv
from app.inputs.decoding import (
    BINARY_TYPE,
    decode_beats,
    decode_options,
    decode_query,
    decode_resampling_beats,
)
from app.inputs.problems import BadRequest
from app.inputs.problems import Problem as ProblemItem
from app.ops.telemetry import METRICS_CONTENT_TYPE, Telemetry

router = APIRouter()


class RawRequestRoute(APIRoute):
    """A route whose endpoint takes the `Request` and returns a `Response` itself.

    It is listed in the OpenAPI document like any route (its parameters and body declared with
    `openapi_extra`), but served without FastAPI's dependency and parameter solving, which cost
    about a tenth of a 1-beat /v1/predict request (bench/).
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint: Callable[[Request], Coroutine[Any, Any, Response]] = self.endpoint
        return endpoint


raw_router = APIRouter(route_class=RawRequestRoute)
PER_MODEL_PREFIX = "/v1/models/{model_name}"
MODEL_NAME_PARAMETER: dict[str, Any] = {
    "name": "model_name",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "A model's name, as GET /v1/models lists them.",
}


def post_for_every_model(
    router: APIRouter, path: str, **route: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Serve a scoring endpoint at `path` (`/v1/...`, the default model) and at
    `/v1/models/{model_name}/...` (the named one: `loaded_scorer` reads the name)."""

    def register(endpoint: Callable[..., Any]) -> Callable[..., Any]:
        router.post(path, **route)(endpoint)
        extra = dict(route.get("openapi_extra") or {})
        extra["parameters"] = [MODEL_NAME_PARAMETER, *extra.get("parameters", [])]
        named = path.replace("/v1", PER_MODEL_PREFIX, 1)
        responses = {**route.get("responses", {}), 404: problem_doc()}  # an unknown model
        router.post(named, **{**route, "openapi_extra": extra, "responses": responses})(endpoint)
        return endpoint

    return register


def problem_doc() -> dict[str, Any]:
    return {"model": Problem, "content": {"application/problem+json": {}}}


PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: problem_doc() for status in (400, 413, 415, 422, 503)
}


def query_parameters(options_type: type[BaseModel]) -> list[dict[str, Any]]:
    """OpenAPI query parameters from the model a route reads its query string into."""
    return [
        {"name": name, "in": "query", "required": False, "schema": schema}
        for name, schema in options_type.model_json_schema()["properties"].items()
    ]


# /v1/predict reads its query and body itself: FastAPI's per-parameter machinery cost more than
# the scoring on 1-beat requests (bench/). So both are declared to OpenAPI here.
PREDICT_OPENAPI: dict[str, Any] = {
    "parameters": query_parameters(PredictOptions),
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/PredictRequest"}},
            BINARY_TYPE: {
                "schema": {"type": "string", "format": "binary"},
                "description": "Beats as little-endian float32 rows of the model's input length.",
            },
        },
    },
}


def json_response(body: dict[str, Any]) -> Response:
    return Response(orjson.dumps(body), media_type="application/json")


@post_for_every_model(
    raw_router,
    "/v1/predict",
    response_model=PredictResponse,
    responses=PROBLEMS,
    tags=["scoring"],
    openapi_extra=PREDICT_OPENAPI,
)
async def predict(request: Request) -> Response:
    """Score each beat: its reconstruction error (MAE) and a verdict against the threshold.

    The body is JSON, `{"beats": [[...], ...]}`, or raw little-endian float32 rows of the model's
    input length (`application/octet-stream`).
    """
    scorer, options = loaded_scorer(request), decode_options(request.query_params)
    point = operating_point(scorer.metadata, k=options.k, threshold=options.threshold)
    body, content_type = await request.body(), request.headers.get("content-type")
    limits = (scorer.input_length, settings_of(request).max_beats)
    resampled_from = None
    if options.resample:
        beats, resampled_from = decode_resampling_beats(body, content_type, *limits)
    else:
        beats = decode_beats(body, content_type, *limits)
    scores = score_beats(request, scorer, beats, point)
    document = predict_response_body(
        scorer.metadata, scores, point, options.explain, resampled_from=resampled_from
    )
    return json_response(document)


CSV_TYPE = "text/csv"
CSV_TYPES = {CSV_TYPE, "application/csv", "text/plain"}
MULTIPART_TYPE = "multipart/form-data"
CSV_FILE_FIELD = "file"

PREDICT_CSV_OPENAPI: dict[str, Any] = {
    "parameters": query_parameters(CsvPredictOptions),
    "requestBody": {
        "required": True,
        "content": {
            MULTIPART_TYPE: {
                "schema": {
                    "type": "object",
                    "required": [CSV_FILE_FIELD],
                    "additionalProperties": False,  # another field is refused (422)
                    "properties": {
                        CSV_FILE_FIELD: {
                            "type": "string",
                            "format": "binary",
                            "description": "A CSV file of beats, one per row.",
                        }
                    },
                }
            },
            CSV_TYPE: {
                "schema": {"type": "string"},
                "description": "A CSV of beats, one per row.",
            },
        },
    },
}


def json_or_csv_responses(description: str) -> dict[int | str, dict[str, Any]]:
    """The responses of a route that answers JSON, or CSV with `Accept: text/csv`."""
    csv_body = {CSV_TYPE: {"schema": {"type": "string"}}}
    return {200: {"description": description, "content": csv_body}, **PROBLEMS}


CSV_RESPONSES = json_or_csv_responses(
    "The verdicts: JSON, or CSV with `Accept: text/csv` (columns index, reconstruction_error, "
    "is_anomaly, verdict, then label and resampled_from when present)."
)


@post_for_every_model(
    raw_router,
    "/v1/predict/csv",
    response_model=PredictResponse,
    responses=CSV_RESPONSES,
    tags=["scoring"],
    openapi_extra=PREDICT_CSV_OPENAPI,
)
async def predict_csv(request: Request) -> Response:
    """Score a CSV of beats: one per row, of the model's input length (140 samples), optionally
    followed by one label column (echoed back as `label`), with or without a header row.

    Send it as the body (`text/csv`) or as the `file` field of a `multipart/form-data` upload.
    UTF-8 text, with or without a byte order mark. Problems name the line (1-based, counting the
    header) and the column. `resample=true` interpolates rows of other lengths to 140 samples.
    With `Accept: text/csv` the verdicts come back as CSV.
    """
    scorer = loaded_scorer(request)
    options = decode_query(request.query_params, CsvPredictOptions)
    point = operating_point(scorer.metadata, k=options.k, threshold=options.threshold)
    body = await csv_body(request)
    # In a thread, unlike /v1/predict: parsing a large CSV takes seconds, and /health and /ready
    # must keep answering meanwhile.
    decoded = await asyncio.to_thread(
        decode_csv_beats,
        body,
        scorer.input_length,
        settings_of(request).max_beats,
        options.resample,
    )
    scores = await asyncio.to_thread(score_beats, request, scorer, decoded.beats, point)
    resampled = decoded.resampled_from if options.resample else None
    document = predict_response_body(
        scorer.metadata, scores, point, False, decoded.labels, resampled
    )
    if not wants_csv(request.headers.get("accept", "")):
        return json_response(document)
    text = results_csv(document["results"], decoded.labels is not None, options.resample)
    headers = {
        "x-model-version": document["model_version"],
        "x-threshold": repr(document["threshold"]),
    }
    return Response(text, media_type=CSV_TYPE, headers=headers)


async def csv_body(request: Request) -> bytes:
    """The CSV bytes of a `text/csv` body or of the `file` field of a multipart upload."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type in CSV_TYPES:
        return await request.body()
    if media_type != MULTIPART_TYPE:
        message = (
            f"content type {media_type!r} is not accepted; send the CSV as the body "
            f"({CSV_TYPE}) or as the {CSV_FILE_FIELD!r} field of a {MULTIPART_TYPE} upload"
        )
        raise BadRequest(415, "Unsupported media type", [ProblemItem("body", message)])
    async with request.form(max_files=1, max_fields=1) as form:
        unknown = sorted(set(form.keys()) - {CSV_FILE_FIELD})
        if unknown:
            problems = [ProblemItem(f"form.{key}", "is not an accepted field") for key in unknown]
            raise BadRequest(422, "Invalid request", problems)
        upload = form.get(CSV_FILE_FIELD)
        if upload is None:
            message = "is required: the CSV file of beats"
            raise BadRequest(
                422, "Invalid request", [ProblemItem(f"form.{CSV_FILE_FIELD}", message)]
            )
        if isinstance(upload, UploadFile):
            return await upload.read()
        return upload.encode()


def wants_csv(accept: str) -> bool:
    """Whether the Accept header prefers CSV to JSON (by q, then by order)."""
    best: tuple[float, int, bool] | None = None
    for position, item in enumerate(accept.split(",")):
        media_type, *params = (part.strip() for part in item.split(";"))
        media_type = media_type.lower()
        if media_type not in {CSV_TYPE, "text/*", "application/json", "application/*", "*/*"}:
            continue
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0 and (best is None or (-q, position) < (-best[0], best[1])):
            best = (q, position, media_type in {CSV_TYPE, "text/*"})
    return best is not None and best[2]


@router.get("/v1/model", response_model=ModelInfo, tags=["model"])
async def model_info(request: Request) -> ModelInfo:
    """What a client needs to know about the default model."""
    return ModelInfo.from_metadata(loaded_scorer(request).metadata)


@router.get("/v1/models", response_model=ModelList, tags=["model"])
async def models(request: Request) -> ModelList:
    """Every model served, by name, with whose heart it learnt and how well it did; each answers
    at `/v1/models/{name}/predict`, `/predict/csv` and `/recordings`."""
    registry = loaded_registry(request)
    return ModelList(
        default=registry.default_name,
        models=[
            ModelSummary.from_metadata(
                name, registry.scorers[name].metadata, name == registry.default_name
            )
            for name in registry.names
        ],
    )


@router.get(
    "/v1/models/{model_name}",
    response_model=ModelInfo,
    responses={404: problem_doc()},
    tags=["model"],
)
async def named_model_info(request: Request, model_name: str) -> ModelInfo:
    """What a client needs to know about one model (404 names the models there are)."""
    return ModelInfo.from_metadata(loaded_registry(request).get(model_name).metadata)


@router.post(
    "/v1/model/reload",
    response_model=ModelReload,
    responses={409: problem_doc()},
    tags=["model"],
)
async def reload(request: Request) -> ModelReload:
    """Load the model directory (`ECG_MODEL_DIR`) again and serve it: a model retrained in place.

    The new model is loaded and checked while the current one keeps serving, then swapped in;
    requests in flight finish on the model they started with. A directory that cannot be served
    (missing, corrupt or inconsistent files) leaves the current model serving and answers 409,
    naming the file and the problem. SIGHUP to the serving process does the same.
    """
    reloaded = await reload_model(request.app, trigger="POST /v1/model/reload")
    return ModelReload(
        model_version=reloaded.model_version,
        previous_model_version=reloaded.previous_model_version,
        models=reloaded.models,
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {METRICS_CONTENT_TYPE: {}}, "description": "Prometheus text."}},
    tags=["operations"],
)
async def metrics(request: Request) -> Response:
    """Prometheus metrics of this process: requests by route and status, latency, beats scored
    and flagged abnormal, inference time, model reloads, and the model served (`ecg_model_info`).
    """
    telemetry: Telemetry = request.app.state.telemetry
    return Response(telemetry.exposition(), media_type=METRICS_CONTENT_TYPE)


@router.get("/health", response_model=Health, tags=["operations"])
async def health() -> Health:
    """Liveness: the process answers."""
    return Health()


@router.get("/ready", response_model=Readiness, tags=["operations"])
async def ready(request: Request) -> JSONResponse:
    """Readiness: 200 once a model is loaded, 503 before."""
    registry: ModelRegistry | None = request.app.state.registry
    if registry is None:
        return JSONResponse(Readiness(status="loading").model_dump(), status_code=503)
    body = Readiness(status="ready", model_version=registry.default.metadata.model_version)
    return JSONResponse(body.model_dump())
