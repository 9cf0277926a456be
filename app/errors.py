"""The one place where errors become HTTP responses: RFC 9457 problem documents."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from app.schemas import Problem, ProblemItem
from app.scoring import InvalidBeatsError, InvalidOperatingPointError

PROBLEM_JSON = "application/problem+json"
MAX_LISTED_PROBLEMS = 20
logger = logging.getLogger(__name__)


class TooManyBeatsError(Exception):
    def __init__(self, count: int, limit: int) -> None:
        self.count, self.limit = count, limit
        super().__init__(f"{count} beats in one request; the limit is {limit} (ECG_MAX_BEATS)")


class ModelNotReadyError(Exception):
    """No model is loaded (yet)."""


def problem_response(status: int, title: str, items: Sequence[ProblemItem] = ()) -> JSONResponse:
    listed = list(items[:MAX_LISTED_PROBLEMS])
    detail = "; ".join(f"{item.location}: {item.message}" for item in listed) or title
    if len(items) > len(listed):
        detail += f"; and {len(items) - len(listed)} more problems"
    problem = Problem(title=title, status=status, detail=detail, errors=listed)
    return JSONResponse(
        problem.model_dump(exclude_none=True), status_code=status, media_type=PROBLEM_JSON
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _on_validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidBeatsError, _on_invalid_beats)  # type: ignore[arg-type]
    app.add_exception_handler(InvalidOperatingPointError, _on_invalid_operating_point)  # type: ignore[arg-type]
    app.add_exception_handler(TooManyBeatsError, _on_too_many_beats)  # type: ignore[arg-type]
    app.add_exception_handler(ModelNotReadyError, _on_not_ready)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _on_http_exception)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _on_unexpected)


async def _on_validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        reason, position = first.get("ctx", {}).get("error", ""), first["loc"][-1]
        item = ProblemItem(
            location="body", message=f"is not valid JSON: {reason} at character {position}"
        )
        return problem_response(400, "Malformed JSON body", [item])
    if isinstance(first.get("input"), bytes):  # FastAPI leaves a non-JSON content type as bytes
        item = ProblemItem(location="body", message="send JSON with Content-Type: application/json")
        return problem_response(415, "Unsupported media type", [item])
    return problem_response(422, "Invalid request body", [_describe(error) for error in errors])


async def _on_invalid_beats(_: Request, exc: InvalidBeatsError) -> JSONResponse:
    items = [
        ProblemItem(location=f"beats[{index}]", beat=index, message=message)
        for index, message in exc.problems
    ]
    return problem_response(422, "Invalid beats", items)


async def _on_invalid_operating_point(_: Request, exc: InvalidOperatingPointError) -> JSONResponse:
    item = ProblemItem(location="query", message=str(exc))
    return problem_response(422, "Invalid operating point", [item])


async def _on_too_many_beats(_: Request, exc: TooManyBeatsError) -> JSONResponse:
    return problem_response(
        413, "Too many beats", [ProblemItem(location="beats", message=str(exc))]
    )


async def _on_not_ready(_: Request, exc: ModelNotReadyError) -> JSONResponse:
    return problem_response(503, "Model not loaded")


async def _on_http_exception(_: Request, exc: HTTPException) -> JSONResponse:
    response = problem_response(exc.status_code, str(exc.detail))
    if exc.headers:
        response.headers.update(exc.headers)
    return response


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(500, "Internal server error")


def _describe(error: dict[str, Any]) -> ProblemItem:
    """Turn one pydantic error into a message naming the beat and sample it concerns."""
    loc = [part for part in error["loc"] if part != "body"]
    beat = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    sample = loc[2] if len(loc) > 2 and isinstance(loc[2], int) else None
    return ProblemItem(
        location=_location(loc),
        beat=beat,
        sample=sample,
        message=_message(error, is_sample=sample is not None),
    )


def _location(loc: list[int | str]) -> str:
    if not loc:
        return "body"
    text = str(loc[0])
    for part in loc[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _message(error: dict[str, Any], is_sample: bool) -> str:
    kind, given = error["type"], _json_type(error.get("input"))
    if kind == "float_type" and type(error.get("input")) is int:  # bool is an int too
        return "is too large for a 64-bit float"
    if kind == "float_type":
        return f"must be a number, got {given}"
    if kind == "finite_number":
        return "must be a finite number (NaN and Infinity are not accepted)"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not an accepted field"
    if kind == "too_short":
        return "must not be empty"
    if kind == "list_type":
        return f"must be a list, got {given}"
    if kind in {"model_attributes_type", "dict_type", "model_type"}:
        return f'must be a JSON object like {{"beats": [[...], ...]}}, got {given}'
    return str(error["msg"])


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"a string ({value[:20]!r})"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, bytes):
        return "bytes"
    return type(value).__name__
