"""Decoding an Open Inference Protocol (KServe V2) infer request: no FastAPI here.

The body is the protocol's JSON, optionally followed by raw tensor bytes (the binary tensor data
extension, which `tritonclient` uses by default): then the `Inference-Header-Content-Length`
header gives the JSON's length, and an input's `parameters.binary_data_size` its bytes. The one
input is the beats, FP32 of shape `[n, input_length]`. Errors are `InferenceProtocolError`s, which
`app.api.errors` answers in the protocol's own form, `{"error": "..."}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

INPUT_NAME = "beats"
INPUT_DATATYPE = "FP32"
ERROR_OUTPUT = "reconstruction_error"
VERDICT_OUTPUT = "is_anomaly"
OUTPUT_DATATYPES = {ERROR_OUTPUT: "FP64", VERDICT_OUTPUT: "BOOL"}
FP32_BYTES = 4


class InferenceProtocolError(Exception):
    """A request the protocol refuses: its HTTP status and a message naming what and where."""

    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message
        super().__init__(message)


@dataclass(frozen=True)
class InferenceRequest:
    request_id: str | None
    beats: npt.NDArray[np.float32]
    outputs: tuple[str, ...]  # the outputs asked for, in the order asked
    binary_outputs: frozenset[str]  # those to send as raw bytes after the JSON


def decode_inference_request(
    body: bytes, header_length: str | None, input_length: int, max_beats: int
) -> InferenceRequest:
    header, binary = _split_body(body, header_length)
    document = _parse_json_object(header)
    beats = _decode_beats(document.get("inputs"), binary, input_length, max_beats)
    outputs, binary_outputs = _requested_outputs(document)
    return InferenceRequest(_request_id(document), beats, outputs, binary_outputs)


def _split_body(body: bytes, header_length: str | None) -> tuple[bytes, bytes]:
    if header_length is None:
        return body, b""
    try:
        length = int(header_length)
    except ValueError:
        length = -1
    if not 0 <= length <= len(body):
        raise InferenceProtocolError(
            400,
            f"header Inference-Header-Content-Length: must be the length of the JSON part of "
            f"the body, 0 to {len(body)}, got {header_length!r}",
        )
    return body[:length], body[length:]


def _parse_json_object(header: bytes) -> dict[str, Any]:
    try:
        document = orjson.loads(header)
    except orjson.JSONDecodeError as exc:
        raise InferenceProtocolError(400, f"body: is not valid JSON ({exc})") from None
    if not isinstance(document, dict):
        raise InferenceProtocolError(400, "body: must be a JSON object with an 'inputs' list")
    return document


def _request_id(document: dict[str, Any]) -> str | None:
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InferenceProtocolError(400, "id: must be a string")
    return request_id


def _decode_beats(
    inputs: Any, binary: bytes, input_length: int, max_beats: int
) -> npt.NDArray[np.float32]:
    if not isinstance(inputs, list) or len(inputs) != 1 or not isinstance(inputs[0], dict):
        raise InferenceProtocolError(
            400, f"inputs: must be a list of one input, {INPUT_NAME!r} ({INPUT_DATATYPE})"
        )
    tensor: dict[str, Any] = inputs[0]
    name = tensor.get("name")
    if name != INPUT_NAME:
        raise InferenceProtocolError(
            400, f"inputs[0].name: unexpected input {name!r}; this model's input is {INPUT_NAME!r}"
        )
    datatype = tensor.get("datatype")
    if datatype != INPUT_DATATYPE:
        raise InferenceProtocolError(
            400, f"inputs[0].datatype: must be {INPUT_DATATYPE}, got {datatype!r}"
        )
    beat_count = _beat_count(tensor.get("shape"), input_length, max_beats)
    parameters = tensor.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InferenceProtocolError(400, "inputs[0].parameters: must be an object")
    if "binary_data_size" in parameters:
        values = _binary_values(parameters["binary_data_size"], binary, beat_count * input_length)
    else:
        values = _json_values(tensor.get("data"), beat_count * input_length)
    beats = values.reshape(beat_count, input_length)
    _check_finite(beats)
    return beats


def _beat_count(shape: Any, input_length: int, max_beats: int) -> int:
    expected = f"[n, {input_length}] with 1 <= n <= {max_beats:,}"
    if (
        not isinstance(shape, list)
        or len(shape) != 2
        or not all(isinstance(size, int) and not isinstance(size, bool) for size in shape)
        or shape[1] != input_length
        or not 1 <= shape[0] <= max_beats
    ):
        raise InferenceProtocolError(400, f"inputs[0].shape: must be {expected}, got {shape!r}")
    return int(shape[0])


def _binary_values(size: Any, binary: bytes, count: int) -> npt.NDArray[np.float32]:
    expected = count * FP32_BYTES
    if size != expected:
        raise InferenceProtocolError(
            400,
            f"inputs[0].parameters.binary_data_size: must be {expected:,} "
            f"({count:,} FP32 values of the shape), got {size!r}",
        )
    if len(binary) != expected:
        raise InferenceProtocolError(
            400,
            f"body: {len(binary):,} bytes follow the JSON part, "
            f"inputs[0].parameters.binary_data_size says {expected:,}",
        )
    return np.frombuffer(binary, dtype="<f4").astype(np.float32, copy=False)


def _json_values(data: Any, count: int) -> npt.NDArray[np.float32]:
    """The `data` of the input, flat (row-major, as the protocol says) or nested."""
    try:
        values = np.asarray(data, dtype=None)
    except ValueError:  # ragged nested lists
        values = np.asarray([], dtype=object)
    if values.dtype.kind not in "iuf" or values.size != count:
        raise InferenceProtocolError(
            400, f"inputs[0].data: must be {count:,} numbers (the shape's size, row-major)"
        )
    with np.errstate(over="ignore"):
        return values.reshape(-1).astype(np.float32)


def _check_finite(beats: npt.NDArray[np.float32]) -> None:
    finite = np.isfinite(beats)
    if not finite.all():
        beat, sample = (int(i) for i in np.argwhere(~finite)[0])
        raise InferenceProtocolError(
            400,
            f"inputs[0].data: beat {beat}, sample {sample} is not a finite FP32 number "
            "(NaN, infinite or out of FP32 range)",
        )


def _requested_outputs(document: dict[str, Any]) -> tuple[tuple[str, ...], frozenset[str]]:
    parameters = document.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise InferenceProtocolError(400, "parameters: must be an object")
    all_binary = parameters.get("binary_data_output") is True
    requested = document.get("outputs")
    if requested is None:
        names = tuple(OUTPUT_DATATYPES)
        return names, frozenset(names if all_binary else ())
    if not isinstance(requested, list) or not all(isinstance(item, dict) for item in requested):
        raise InferenceProtocolError(400, "outputs: must be a list of objects with a 'name'")
    chosen: list[str] = []
    binary: set[str] = set()
    for position, item in enumerate(requested):
        name = item.get("name")
        if name not in OUTPUT_DATATYPES:
            raise InferenceProtocolError(
                400,
                f"outputs[{position}].name: unknown output {name!r}; "
                f"this model's outputs are {', '.join(OUTPUT_DATATYPES)}",
            )
        chosen.append(name)
        output_parameters = item.get("parameters") or {}
        wants_binary = isinstance(output_parameters, dict) and output_parameters.get("binary_data")
        if wants_binary is True or (all_binary and wants_binary is not False):
            binary.add(name)
    return tuple(chosen), frozenset(binary)
