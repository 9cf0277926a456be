"""Request bodies to a beat matrix: JSON (`{"beats": [[...], ...]}`) or raw little-endian float32.

No FastAPI here. Every refusal is a `BadRequest` naming the place (beat, sample) and the problem.

JSON takes two paths. The fast one, simdjson straight into a NumPy array, serves the bodies clients
send almost always: only numbers, one key. Anything else (a string, a boolean, a ragged or
non-finite beat, malformed JSON) takes the strict path, pydantic's validator, whose only job is to
say exactly what is wrong and where; both paths accept the same bodies.
"""

from __future__ import annotations

import threading
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import orjson
import simdjson
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.datastructures import QueryParams

from app.api.schemas import Beat, PredictOptions, PredictRequest
from app.inputs.problems import MAX_DESCRIBED_PROBLEMS, BadRequest, Problem

FLOAT32_BYTES = 4
FLOAT32_MAX = float(np.finfo(np.float32).max)
BeatMatrix = npt.NDArray[np.float32]
OptionsT = TypeVar("OptionsT", bound=BaseModel)
_parsers = threading.local()
BEAT_ADAPTER: TypeAdapter[list[float]] = TypeAdapter(Beat)
UTF8_BOM = b"\xef\xbb\xbf"
MIN_RESAMPLE_LENGTH = 2
MAX_RESAMPLE_LENGTH = 10_000  # a second at 10 kHz: longer rows are not one beat
# The strict path parses a body simdjson refused with pydantic, which describes every bad sample;
# a larger one gets only the first error, from orjson.
STRICT_PARSE_MAX_BYTES = 1 << 20


JSON_TYPES = {"", "application/json"}  # no content type: JSON, as FastAPI assumes
BINARY_TYPE = "application/octet-stream"


def decode_beats(
    body: bytes, content_type: str | None, input_length: int, max_beats: int
) -> BeatMatrix:
    media_type = _media_type(content_type)
    if media_type == BINARY_TYPE:
        return decode_binary_beats(body, input_length, max_beats)
    return decode_json_beats(body, input_length, max_beats)


def _media_type(content_type: str | None) -> str:
    """JSON or float32 rows, by the Content-Type; anything else is a 415."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type in JSON_TYPES or media_type.endswith("+json") or media_type == BINARY_TYPE:
        return BINARY_TYPE if media_type == BINARY_TYPE else "application/json"
    message = (
        f"content type {media_type!r} is not accepted; send JSON (application/json) "
        f"or float32 rows ({BINARY_TYPE})"
    )
    raise BadRequest(415, "Unsupported media type", [Problem("body", message)])


DEFAULT_OPTIONS = PredictOptions()


def decode_options(query: QueryParams) -> PredictOptions:
    """The query string of /v1/predict; an empty one (the usual case) costs nothing."""
    if not query:
        return DEFAULT_OPTIONS
    return decode_query(query, PredictOptions)


def decode_query(query: QueryParams, options_type: type[OptionsT]) -> OptionsT:
    """A query string as `options_type`; a repeated or unknown parameter is refused."""
    repeated = sorted({key for key, _ in query.multi_items() if len(query.getlist(key)) > 1})
    if repeated:
        problems = [Problem(f"query.{key}", "is given more than once") for key in repeated]
        raise BadRequest(422, "Invalid request", problems)
    try:
        return options_type.model_validate(dict(query))
    except ValidationError as exc:
        errors = [{**error, "loc": ("query", *error["loc"])} for error in exc.errors()]
        raise bad_request_from(errors) from None


def decode_json_beats(body: bytes, input_length: int, max_beats: int) -> BeatMatrix:
    body = body.removeprefix(UTF8_BOM)  # allowed by RFC 8259 to be ignored; both paths ignore it
    fast = _fast_json_beats(body, input_length)
    if fast is not None:
        return check_beats(fast, input_length, max_beats)
    return check_beats(_strict_json_beats(body, input_length, max_beats), input_length, max_beats)


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
        raise _too_many_beats(len(beats), max_beats)
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
        document: Any = _parse(body)
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


def _parse(body: bytes) -> Any:
    """The parsed body, from one parser per thread, reused: a new one allocates its buffers
    afresh for every body, which cost more than the parsing itself under load (py-spy, bench/).

    simdjson refuses to reuse a parser while objects of its last document live on (say, in the
    traceback of a refused request that someone still holds); that parser is then left to them
    and a new one takes its place.
    """
    parser: simdjson.Parser | None = getattr(_parsers, "parser", None)
    if parser is not None:
        try:
            return parser.parse(body)
        except RuntimeError as exc:
            if "re-use a parser" not in str(exc):
                raise
    _parsers.parser = simdjson.Parser()
    return _parsers.parser.parse(body)


def _strict_json_beats(
    body: bytes, input_length: int, max_beats: int, resample: bool = False
) -> list[list[float]]:
    """The beats of a body the fast path refused, or a `BadRequest` saying what is wrong where.

    pydantic describes every bad sample it meets, so it is only given bodies whose problems are
    few: a body simdjson parses is screened beat by beat first (at most 20 beats described, the
    rest counted), and a large one simdjson cannot parse gets orjson's first-error message.
    """
    try:
        document: Any = _parse(body)
    except (ValueError, RuntimeError):
        document = None  # malformed, or a number simdjson does not take (beyond float64...)
    if document is not None:
        _screen_document(document, input_length, max_beats, resample)
        del document  # the parser is reused: nothing may still point into it
    elif len(body) > STRICT_PARSE_MAX_BYTES:
        _raise_first_json_error(body)
    try:
        return PredictRequest.model_validate_json(body).beats
    except ValidationError as exc:
        raise bad_request_from(exc.errors(include_url=False)) from None


def length_problem(length: int, input_length: int, resample: bool) -> str | None:
    """What is wrong with a beat of `length` samples, if anything."""
    if resample:
        if MIN_RESAMPLE_LENGTH <= length <= MAX_RESAMPLE_LENGTH:
            return None
        return (
            f"has {length:,} samples; {MIN_RESAMPLE_LENGTH} to {MAX_RESAMPLE_LENGTH:,} can be "
            "resampled"
        )
    if length == input_length:
        return None
    return (
        f"has {length} samples, the model expects {input_length} "
        "(resample=true interpolates other lengths)"
    )


def resample_beat(samples: npt.NDArray[Any], input_length: int) -> BeatMatrix:
    """Linear interpolation to `input_length` evenly spaced samples (how ECG5000's were made)."""
    grid = np.linspace(0.0, 1.0, input_length)
    resampled: BeatMatrix = np.interp(grid, np.linspace(0.0, 1.0, len(samples)), samples).astype(
        np.float32
    )
    return resampled


def decode_resampling_beats(
    body: bytes, content_type: str | None, input_length: int, max_beats: int
) -> tuple[BeatMatrix, list[int | None]]:
    """As `decode_beats`, but a JSON beat of another length is interpolated to `input_length`;
    also returns each beat's own length where it was resampled (None where it was not)."""
    if _media_type(content_type) == BINARY_TYPE:  # float32 rows have the model's length already
        beats = decode_binary_beats(body, input_length, max_beats)
        return beats, [None] * len(beats)
    body = body.removeprefix(UTF8_BOM)
    fast = _fast_json_beats(body, input_length)
    if fast is not None:
        return check_beats(fast, input_length, max_beats), [None] * len(fast)
    rows = _strict_json_beats(body, input_length, max_beats, resample=True)
    if len(rows) > max_beats:
        raise _too_many_beats(len(rows), max_beats)
    resampled_from = [None if len(row) == input_length else len(row) for row in rows]
    with np.errstate(over="ignore"):  # beyond float32: inf, refused by check_beats
        matrix = np.stack(
            [
                np.asarray(row, dtype=np.float32)
                if len(row) == input_length
                else resample_beat(np.asarray(row, dtype=np.float64), input_length)
                for row in rows
            ]
        )
    return check_beats(matrix, input_length, max_beats), resampled_from


def _screen_document(
    document: Any, input_length: int, max_beats: int, resample: bool = False
) -> None:
    """Raise for a parsed body that is not `{"beats": [[numbers] * input_length, ...]}`."""
    if not isinstance(document, simdjson.Object):
        raise _invalid(Problem("body", 'must be a JSON object like {"beats": [[...], ...]}'))
    unknown = sorted(set(document.keys()) - {"beats"})
    if unknown:
        raise _invalid(*(Problem(key, "is not an accepted field") for key in unknown))
    if "beats" not in document:
        raise _invalid(Problem("beats", "is required"))
    beats = document["beats"]
    if not isinstance(beats, simdjson.Array):
        raise _invalid(Problem("beats", f"must be a list, got {_json_type(beats)}"))
    if len(beats) == 0:
        raise _invalid(Problem("beats", "must not be empty"))
    if len(beats) > max_beats:
        raise _too_many_beats(len(beats), max_beats)
    bad_rows: list[int] = []
    problems: list[Problem] = []
    for index, beat in enumerate(beats):
        describe = len(problems) < MAX_DESCRIBED_PROBLEMS  # past that, bad beats are counted
        problem = _screen_beat(index, beat, input_length, describe, resample)
        if problem is not None:
            bad_rows.append(index)
            problems.extend(problem)
    if bad_rows:
        raise BadRequest(422, "Invalid request", problems, more=len(bad_rows) - len(problems))


def _screen_beat(
    index: int, beat: Any, input_length: int, describe: bool, resample: bool
) -> list[Problem] | None:
    """None for a beat of `input_length` numbers; else what is wrong with it: its first bad
    sample in pydantic's words when it has the right length (an empty list if not `describe`)."""
    where = f"beats[{index}]"
    if not isinstance(beat, simdjson.Array):
        return [Problem(where, f"must be a list, got {_json_type(beat)}", index)]
    if len(beat) == 0:
        return [Problem(where, "must not be empty", index)]
    wrong_length = length_problem(len(beat), input_length, resample)
    if wrong_length is not None:
        return [Problem(where, wrong_length, index)]
    try:
        beat.as_buffer(of_type="d")
        return None
    except TypeError:  # something in it is not a number
        if not describe:
            return []
    try:
        BEAT_ADAPTER.validate_python(beat.as_list())
    except ValidationError as exc:
        errors = [{**e, "loc": ("beats", index, *e["loc"])} for e in exc.errors()]
        return bad_request_from(errors).problems[:1]
    return None


def _raise_first_json_error(body: bytes) -> None:
    try:
        orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        problem = Problem("body", f"is not valid JSON: {exc}")
        raise BadRequest(400, "Malformed JSON body", [problem]) from None
    raise BadRequest(  # valid JSON simdjson refused: an integer beyond 64 bits, say
        422, "Invalid request", [Problem("body", "holds a number this service cannot read")]
    )


def _invalid(*problems: Problem) -> BadRequest:
    return BadRequest(422, "Invalid request", list(problems))


def _too_many_beats(count: int, max_beats: int) -> BadRequest:
    message = f"{count} beats in one request; the limit is {max_beats} (ECG_MAX_BEATS)"
    return BadRequest(413, "Too many beats", [Problem("beats", message)])


def _check_lengths(lengths: list[int], input_length: int) -> None:
    wrong = [i for i, length in enumerate(lengths) if length != input_length]
    if wrong:
        problems = [
            Problem(f"beats[{i}]", length_problem(lengths[i], input_length, False) or "", i)
            for i in wrong[:MAX_DESCRIBED_PROBLEMS]
        ]
        raise BadRequest(422, "Invalid beats", problems, more=len(wrong) - len(problems))


def _check_finite(beats: BeatMatrix) -> None:
    bad = np.flatnonzero(~np.isfinite(beats))
    if len(bad):
        width = beats.shape[1]
        message = f"must be a finite number within ±{FLOAT32_MAX:.4g} (float32)"
        problems = [
            Problem(f"beats[{i // width}][{i % width}]", message, int(i // width), int(i % width))
            for i in bad[:MAX_DESCRIBED_PROBLEMS]
        ]
        raise BadRequest(422, "Invalid beats", problems, more=len(bad) - len(problems))


def bad_request_from(errors: list[Any]) -> BadRequest:
    """A pydantic error list (body or query) as a `BadRequest` naming each place."""
    first = errors[0] if errors else {}
    if first.get("type") == "json_invalid":
        reason = first.get("ctx", {}).get("error", "")
        return BadRequest(
            400, "Malformed JSON body", [Problem("body", f"is not valid JSON: {reason}")]
        )
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
    if isinstance(value, list | simdjson.Array):
        return "a list"
    if isinstance(value, dict | simdjson.Object):
        return "an object"
    return type(value).__name__
