"""The one place where errors become HTTP responses: RFC 9457 problem documents."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from app.api.schemas import Problem as ProblemDocument
from app.api.schemas import ProblemItem
from app.inference.artifact import ArtifactError
from app.inference.registry import UnknownModelError
from app.inference.scoring import UnscorableBeatsError
from app.inputs.decoding import bad_request_from
from app.inputs.inference_protocol import InferenceProtocolError
from app.inputs.problems import MAX_DESCRIBED_PROBLEMS, BadRequest, Problem
from app.ops.telemetry import REQUEST_ID_HEADER, request_id_of

PROBLEM_JSON = "application/problem+json"
API_KEY_HEADER = "X-API-Key"
logger = logging.getLogger(__name__)


class ModelNotReadyError(Exception):
    """No model is loaded (yet)."""


class BodyTooLargeError(HTTPException):
    """A body that passed ECG_MAX_BODY_BYTES while it streamed in (`app.api.middleware`).

    An `HTTPException`, so that FastAPI's own body reading passes it on rather than making it a 400.
    """

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, "Request body too large")
        self.max_bytes = max_bytes


def problem_response(
    status: int, title: str, problems: Sequence[Problem] = (), more: int = 0
) -> JSONResponse:
    """`more`: problems found beyond those in `problems`, counted in `detail`."""
    listed = [
        ProblemItem(location=p.location, beat=p.beat, sample=p.sample, message=p.message)
        for p in problems[:MAX_DESCRIBED_PROBLEMS]
    ]
    detail = "; ".join(f"{item.location}: {item.message}" for item in listed) or title
    more += len(problems) - len(listed)
    if more:
        detail += f"; and {more} more problems"
    document = ProblemDocument(title=title, status=status, detail=detail, errors=listed)
    return JSONResponse(
        document.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_JSON
    )


class BodyTooSlowError(HTTPException):
    """A body that had not arrived whole within ECG_BODY_TIMEOUT_S (`app.api.middleware`)."""

    def __init__(self, timeout_s: float) -> None:
        super().__init__(408, "Request body too slow")
        self.timeout_s = timeout_s


def body_too_large_response(max_bytes: int, content_length: int | None = None) -> JSONResponse:
    size = "" if content_length is None else f" ({content_length:,} bytes by its Content-Length)"
    message = f"is larger{size} than the limit of {max_bytes:,} bytes (ECG_MAX_BODY_BYTES)"
    response = problem_response(413, "Request body too large", [Problem("body", message)])
    response.headers["connection"] = "close"  # the rest of the body is left unread
    return response


def api_key_response(presented: bool) -> JSONResponse:
    """401 for a missing or wrong key; never echoes what was sent."""
    reason = "is not the service's API key" if presented else "is missing"
    message = f"{reason}; this endpoint needs the API key, sent as `{API_KEY_HEADER}: <key>`"
    response = problem_response(
        401, "API key required", [Problem(f"header.{API_KEY_HEADER}", message)]
    )
    response.headers["www-authenticate"] = f'ApiKey header="{API_KEY_HEADER}"'
    return response


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(BadRequest, _on_bad_request)  # type: ignore[arg-type]
    app.add_exception_handler(BodyTooLargeError, _on_body_too_large)  # type: ignore[arg-type]
    app.add_exception_handler(BodyTooSlowError, _on_body_too_slow)  # type: ignore[arg-type]
    app.add_exception_handler(ArtifactError, _on_model_reload_failed)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(UnscorableBeatsError, _on_unscorable_beats)  # type: ignore[arg-type]
    app.add_exception_handler(ModelNotReadyError, _on_not_ready)  # type: ignore[arg-type]
    app.add_exception_handler(UnknownModelError, _on_unknown_model)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _on_http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(InferenceProtocolError, _on_inference_protocol_error)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)


async def _on_bad_request(_: Request, exc: BadRequest) -> JSONResponse:
    return problem_response(exc.status, exc.title, exc.problems, exc.more)


async def _on_body_too_slow(_: Request, exc: BodyTooSlowError) -> JSONResponse:
    message = (
        f"had not arrived whole within {exc.timeout_s:g} s (ECG_BODY_TIMEOUT_S); "
        "a slow client holds a connection and memory, so the body is given a deadline"
    )
    response = problem_response(408, "Request body too slow", [Problem("body", message)])
    response.headers["connection"] = "close"  # the rest of the body is left unread
    return response


async def _on_body_too_large(_: Request, exc: BodyTooLargeError) -> JSONResponse:
    return body_too_large_response(exc.max_bytes)


async def _on_model_reload_failed(request: Request, exc: ArtifactError) -> JSONResponse:
    """409: the request is fine, the model directory is not; fixing it and retrying succeeds."""
    registry = request.app.state.registry
    serving = "no model is loaded"
    if registry is not None:
        serving = f"model {registry.default.metadata.model_version} keeps serving"
    # The server's own paths stay in its log (app.inference.reloading); the client sees them
    # relative to the model directory, which is enough to fix it.
    model_dir = str(request.app.state.settings.model_dir).rstrip("/")
    reason = str(exc).replace(model_dir + "/", "").replace(model_dir, "the model directory")
    problem = Problem("ECG_MODEL_DIR", f"{reason}; {serving}")
    return problem_response(409, "Model reload failed", [problem])


async def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    return await _on_bad_request(request, bad_request_from(list(exc.errors())))


async def _on_unscorable_beats(_: Request, exc: UnscorableBeatsError) -> JSONResponse:
    message = "has samples too large for the model to score (its arithmetic overflows)"
    problems = [Problem(f"beats[{i}]", message, i) for i in exc.indices]
    return problem_response(422, "Invalid beats", problems)


async def _on_unknown_model(_: Request, exc: UnknownModelError) -> JSONResponse:
    message = f"is not a model of this service; the models are {', '.join(exc.available)}"
    return problem_response(404, "Unknown model", [Problem(f"path.{exc.name}", message)])


async def _on_not_ready(_: Request, exc: ModelNotReadyError) -> JSONResponse:
    return problem_response(503, "Model not loaded")


async def _on_http_exception(_: Request, exc: HTTPException) -> JSONResponse:
    response = problem_response(exc.status_code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _on_inference_protocol_error(_: Request, exc: InferenceProtocolError) -> JSONResponse:
    """The Open Inference Protocol's own error form (app.api.inference_protocol)."""
    return JSONResponse({"error": exc.message}, status_code=exc.status)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A bug: logged with its traceback and the request id, answered with no detail.

    Starlette answers it outside every middleware, so the request id header is added here.
    """
    request_id = request_id_of(request.scope)
    logger.exception(
        "unhandled error on %s %s",
        request.method,
        request.url.path,
        extra={"request_id": request_id},
    )
    response = problem_response(500, "Internal server error")
    if request_id is not None:
        response.headers[REQUEST_ID_HEADER] = request_id
    return response
