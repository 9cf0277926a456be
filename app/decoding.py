"""Request bodies to a beat matrix: JSON (`{"beats": [[...], ...]}`) or raw little-endian float32.

No FastAPI here. Every refusal is a `BadRequest` naming the place (beat, sample) and the problem.

JSON takes two paths. The fast one, simdjson straight into a NumPy array, serves the bodies clients
send almost always: only numbers, one key. Anything else (a string, a boolean, a ragged or
non-finite beat, malformed JSON) takes the strict path, pydantic's validator, whose only job is to
say exactly what is wrong and where; both paths accept the same bodies.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
import simdjson
from pydantic import ValidationError

from app.problems import BadRequest, Problem
from app.schemas import PredictOptions, PredictRequest

FLOAT32_BYTES = 4
FLOAT32_MAX = float(np.finfo(np.float32).max)
BeatMatrix = npt.NDArray[np.float32]
_parsers = threading.local()


JSON_TYPES = {"", "application/json"}  # no content type: JSON, as FastAPI assumes
BINARY_TYPE = "application/octet-stream"


def decode_beats(
    body: bytes, content_type: str | None, input_length: int, max_beats: int
) -> BeatMatrix:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type in JSON_TYPES or media_type.endswith("+json"):
        return decode_json_beats(body, input_length, max_beats)
    if media_type == BINARY_TYPE:
        return decode_binary_beats(body, input_length, max_beats)
    message = (
        f"content type {media_type!r} is not accepted; send JSON (application/json) "
        f"or float32 rows ({BINARY_TYPE})"
    )
    raise BadRequest(415, "Unsupported media type", [Problem("body", message)])


DEFAULT_OPTIONS = PredictOptions()


def decode_options(query: Mapping[str, str]) -> PredictOptions:
    """The query string of /v1/predict; an empty one (the usual case) costs nothing."""
    if not query:
        return DEFAULT_OPTIONS
    try:
        return PredictOptions.model_validate(dict(query))
    except ValidationError as exc:
        errors = [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
        raise bad_request_from(errors) from None


def decode_json_beats(body: bytes, input_length: int, max_beats: int) -> BeatMatrix:
    fast = _fast_json_beats(body, input_length)
    beats = fast if fast is not None else _strict_json_beats(body)
    return check_beats(beats, input_length, max_beats)


def decode_binary_beats(body: bytes, input_length: int, max_beats: int) -> BeatMatrix:
    """Rows of `input_length` little-endian float32 samples, back to back, no header."""
    row_bytes = input_length * FLOAT32_BYTES
    if not body or len(body) % row_bytes:
        message = (
            f"has {len(body)} bytes; expected a non-empty multiple of {row_bytes} "
            f"({input_length} little-endian float32 samples per beat)"
        )
        raise BadRequest(422, "Invalid beats", [Problem("body", message)])
    beats = np.frombuffer(body, dtype="<f4").reshape(-1, input_length)
    return check_beats(beats, input_length, max_beats)


def check_beats(
    beats: BeatMatrix | list[list[float]], input_length: int, max_beats: int
) -> BeatMatrix:
    """The checks every body passes: beat count, beat length, finite float32 samples."""
    if len(beats) > max_beats:
        message = f"{len(beats)} beats in one request; the limit is {max_beats} (ECG_MAX_BEATS)"
        raise BadRequest(413, "Too many beats", [Problem("beats", message)])
    if isinstance(beats, list):
        _check_lengths([len(beat) for beat in beats], input_length)
        with np.errstate(over="ignore"):  # beyond float32: inf, refused just below
            beats = np.array(beats, dtype=np.float32)
    _check_finite(beats)
    return beats


def _fast_json_beats(body: bytes, input_length: int) -> BeatMatrix | None:
    """The matrix, for a well-formed body of numbers only; None for anything else.

    simdjson parses the body and hands the numbers over as one flat buffer of doubles, with no
    Python float made per sample (3x faster than orjson on 1,000 beats, bench/). It refuses
    strings, booleans and nulls itself; the checks here make sure the flat buffer really is
    `beats` rows of `input_length` numbers (no other key, no list nested in a beat).
    """
    try:
        document: Any = _parser().parse(body)
        beats = document["beats"]
        n_beats = len(beats)
        if len(document) != 1 or n_beats == 0 or body.count(b"[") != n_beats + 1:
            return None
        if any(len(beat) != input_length for beat in beats):
            return None
        flat = np.frombuffer(beats.as_buffer(of_type="d"), dtype=np.float64)
    except (ValueError, TypeError, KeyError, IndexError, RuntimeError):
        return None  # malformed, not an object, no "beats", a string in a beat...
    with np.errstate(over="ignore"):  # beyond float32: inf, refused by check_beats
        return flat.astype(np.float32).reshape(n_beats, input_length)


def _parser() -> simdjson.Parser:
    """One parser per thread, reused: a new one allocates its buffers afresh for every body,
    which cost more than the parsing itself under load (py-spy, bench/)."""
    parser: simdjson.Parser | None = getattr(_parsers, "parser", None)
    if parser is None:
        parser = _parsers.parser = simdjson.Parser()
    return parser


def _strict_json_beats(body: bytes) -> list[list[float]]:
    try:
        return PredictRequest.model_validate_json(body).beats
    except ValidationError as exc:
        raise bad_request_from(exc.errors(include_url=False)) from None


def _check_lengths(lengths: list[int], input_length: int) -> None:
    problems = [
        Problem(f"beats[{i}]", f"has {length} samples, the model expects {input_length}", i)
        for i, length in enumerate(lengths)
        if length != input_length
    ]
    if problems:
        raise BadRequest(422, "Invalid beats", problems)


def _check_finite(beats: BeatMatrix) -> None:
    bad = ~np.isfinite(beats)
    if bad.any():
        problems = [
            Problem(
                f"beats[{i}][{j}]",
                f"must be a finite number within ±{FLOAT32_MAX:.4g} (float32)",
                int(i),
                int(j),
            )
            for i, j in np.argwhere(bad)
        ]
        raise BadRequest(422, "Invalid beats", problems)


def bad_request_from(errors: list[Any]) -> BadRequest:
    """A pydantic error list (body or query) as a `BadRequest` naming each place."""
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        reason = first.get("ctx", {}).get("error", "")
        return BadRequest(
            400, "Malformed JSON body", [Problem("body", f"is not valid JSON: {reason}")]
        )
    if isinstance(first.get("input"), bytes):  # FastAPI leaves a body of another type as bytes
        message = "send JSON (application/json) or float32 rows (application/octet-stream)"
        return BadRequest(415, "Unsupported media type", [Problem("body", message)])
    return BadRequest(422, "Invalid request", [_describe(error) for error in errors])


def _describe(error: dict[str, Any]) -> Problem:
    loc = [part for part in error["loc"] if part != "body"]
    beat = loc[1] if len(loc) > 1 and loc[0] == "beats" and isinstance(loc[1], int) else None
    sample = loc[2] if beat is not None and len(loc) > 2 and isinstance(loc[2], int) else None
    return Problem(_location(loc), _message(error), beat, sample)


def _location(loc: list[int | str]) -> str:
    if not loc:
        return "body"
    text = str(loc[0])
    for part in loc[1:]:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _message(error: dict[str, Any]) -> str:
    kind, value = error["type"], error.get("input")
    if kind == "float_type" and type(value) is int:  # bool is an int too
        return "is too large for a 64-bit float"
    if kind == "float_type":
        return f"must be a number, got {_json_type(value)}"
    if kind == "finite_number":
        return "must be a finite number (NaN and Infinity are not accepted)"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "is not an accepted field"
    if kind == "too_short":
        return "must not be empty"
    if kind == "list_type":
        return f"must be a list, got {_json_type(value)}"
    if kind in {"model_attributes_type", "dict_type", "model_type"}:
        return f'must be a JSON object like {{"beats": [[...], ...]}}, got {_json_type(value)}'
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
    return type(value).__name__
