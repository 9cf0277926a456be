"""Scoring beats with a loaded model: normalise, reconstruct, error, verdict.

No FastAPI here: the service, the trainer's evaluation and the tests all score through this module,
so a beat gets the same error and verdict wherever it is scored.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from app.inference.artifact import (
    ONNX_FILE,
    Alignment,
    ArtifactError,
    MinMaxNormalisation,
    ModelMetadata,
    Smoothing,
    read_metadata,
)

FloatArray = npt.NDArray[np.floating[Any]]


def normalise(beats: FloatArray, normalisation: MinMaxNormalisation) -> npt.NDArray[np.float32]:
    scale = normalisation.max - normalisation.min
    return ((beats - normalisation.min) / scale).astype(np.float32)


def smooth(
    normalised: npt.NDArray[np.float32], smoothing: Smoothing | None
) -> npt.NDArray[np.float32]:
    """Each beat (row) through the model's smoothing filter, if it has one."""
    if smoothing is None:
        return normalised
    matrix = _smoothing_matrix(tuple(smoothing.coefficients), normalised.shape[1])
    # In float64: a float32 product's rounding depends on how many beats share the call (BLAS
    # blocks them differently), and a beat's score must not depend on its batch.
    return np.asarray(normalised.astype(np.float64) @ matrix, dtype=np.float32)


@functools.lru_cache(maxsize=8)
def _smoothing_matrix(coefficients: tuple[float, ...], length: int) -> npt.NDArray[np.float64]:
    """M such that `beats @ M` are the filtered beats: column i holds the coefficients of the
    window centred on sample i, the edge samples standing in for those beyond the ends.

    One matrix product: 4 µs for a 1-beat request, against 58 µs to pad it and slide a window.
    """
    half = len(coefficients) // 2
    matrix = np.zeros((length, length))
    for sample in range(length):
        for offset, coefficient in enumerate(coefficients):
            source = min(max(sample - half + offset, 0), length - 1)
            matrix[source, sample] += coefficient
    return matrix


def shift_beats(beats: FloatArray, shifts: FloatArray) -> FloatArray:
    """Each beat (row) moved later by its own shift in samples (negative: earlier), linearly
    interpolated and wrapped around: what leaves one end comes back at the other, as the next
    beat of a regular rhythm starts the way this one does. Keeps the beats' dtype."""
    n = beats.shape[1]
    positions = np.arange(n)[None, :] - np.asarray(shifts, dtype=np.float64)[:, None]
    left = np.floor(positions)
    weight = (positions - left).astype(beats.dtype)
    left_index = left.astype(np.int64) % n
    right_index = (left_index + 1) % n
    rows = np.arange(len(beats))[:, None]
    shifted: FloatArray = (1 - weight) * beats[rows, left_index] + weight * beats[rows, right_index]
    return shifted.astype(beats.dtype)


def alignment_shifts(
    prepared: npt.NDArray[np.float32], alignment: Alignment | None
) -> npt.NDArray[np.float64]:
    """Per beat, the shift (samples) of the template that best matches it: 0 without alignment."""
    if alignment is None:
        return np.zeros(len(prepared))
    candidates, templates, energies = _shifted_templates(
        tuple(alignment.template), alignment.max_shift, alignment.step
    )
    # |beat - template_s|^2 less the beat's own energy, the same for every candidate
    distances = energies[None, :] - 2 * (prepared @ templates.T)
    chosen: npt.NDArray[np.float64] = candidates[distances.argmin(axis=1)]
    return chosen


@functools.lru_cache(maxsize=8)
def _shifted_templates(
    template: tuple[float, ...], max_shift: float, step: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """(candidate shifts, the template moved by each (one row each), their squared norms)."""
    count = int(np.floor(max_shift / step + 1e-9))
    candidates = np.arange(-count, count + 1, dtype=np.float64) * step
    row = np.asarray(template, dtype=np.float32)[None, :]
    templates = np.asarray(
        shift_beats(np.repeat(row, len(candidates), axis=0), candidates), dtype=np.float32
    )
    energies = np.asarray((templates.astype(np.float64) ** 2).sum(axis=1), dtype=np.float32)
    return candidates, templates, energies


def prepare_beats(
    beats: FloatArray,
    normalisation: MinMaxNormalisation,
    smoothing: Smoothing | None,
    alignment: Alignment | None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float64]]:
    """Raw beats as the model reconstructs and compares them (normalised, smoothed, aligned),
    with the shift each was moved back by; from the metadata's parts, as the trainer has them."""
    smoothed = smooth(normalise(beats, normalisation), smoothing)
    shifts = alignment_shifts(smoothed, alignment)
    if alignment is None:
        return smoothed, shifts
    return np.asarray(shift_beats(smoothed, -shifts), dtype=np.float32), shifts


def prepare(beats: FloatArray, metadata: ModelMetadata) -> npt.NDArray[np.float32]:
    """Raw beats as the model reconstructs and compares them: normalised, smoothed, aligned."""
    return prepare_beats(beats, metadata.normalisation, metadata.smoothing, metadata.alignment)[0]


def denormalise(values: FloatArray, normalisation: MinMaxNormalisation) -> npt.NDArray[np.float32]:
    """The inverse of `normalise`: back to the units of the training rows."""
    scale = normalisation.max - normalisation.min
    return (values * scale + normalisation.min).astype(np.float32)


def mean_absolute_error(beats: FloatArray, reconstructions: FloatArray) -> npt.NDArray[np.float64]:
    """Per-beat MAE, accumulated in float64 so verdicts at the threshold do not depend on order.

    A sum over the samples, then a division: `np.mean`'s Python-level wrapper cost more than the
    arithmetic on 1-beat requests.
    """
    absolute = np.abs(reconstructions - beats)
    errors: npt.NDArray[np.float64] = absolute.sum(axis=1, dtype=np.float64) / absolute.shape[1]
    return errors


class UnscorableBeatsError(ValueError):
    """Beats (by index) the model cannot score: their samples overflow its arithmetic."""

    def __init__(self, indices: list[int]) -> None:
        self.indices = indices
        super().__init__(f"{len(indices)} beats overflow the model's arithmetic")


@dataclass(frozen=True)
class OperatingPoint:
    """The threshold verdicts are made against, and how it was chosen."""

    threshold: float
    rule: str


def operating_point(
    metadata: ModelMetadata, k: float | None = None, threshold: float | None = None
) -> OperatingPoint:
    """The model's own threshold, or one a client asks for: a given value, or mean + k * std.

    A given threshold takes precedence over k (both are valid on their own, so both together are
    too; the rule returned says which was applied).
    """
    if threshold is not None:
        ignored = f" (it takes precedence over k={k:g})" if k is not None else ""
        return OperatingPoint(threshold, "threshold given in the request" + ignored)
    if k is not None:
        rule = f"mean + {k:g} * std of the training normal beats' MAE (requested)"
        return OperatingPoint(metadata.training_errors.mean_plus_k_std(k), rule)
    return OperatingPoint(metadata.threshold, metadata.threshold_rule.describe())


@dataclass(frozen=True)
class Scores:
    """Per-beat errors, plus what an explanation needs (all in normalised units; `normalised` is
    the beat as compared, smoothed and aligned if the model does)."""

    errors: npt.NDArray[np.float64]
    normalised: npt.NDArray[np.float32]
    reconstructions: npt.NDArray[np.float32]
    shifts: npt.NDArray[np.float64]  # samples each beat was moved back by (alignment; else 0)

    def is_anomaly(self, threshold: float) -> npt.NDArray[np.bool_]:
        flagged: npt.NDArray[np.bool_] = self.errors > threshold
        return flagged

    def sample_errors(self, beats: int | slice = slice(None)) -> npt.NDArray[np.float32]:
        """Per-sample absolute error of the beats chosen (all, by default); its mean over a beat
        is the beat's error."""
        difference = self.reconstructions[beats] - self.normalised[beats]
        errors: npt.NDArray[np.float32] = np.abs(difference)
        return errors


class Scorer:
    """A loaded model: an ONNX Runtime session plus the metadata that says how to use it."""

    def __init__(self, session: ort.InferenceSession, metadata: ModelMetadata) -> None:
        self.session = session
        self.metadata = metadata
        self._input_name = session.get_inputs()[0].name

    @property
    def input_length(self) -> int:
        return self.metadata.input_length

    @property
    def threshold(self) -> float:
        return self.metadata.threshold

    def reconstruct(self, normalised: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        outputs = self.session.run(None, {self._input_name: normalised})
        return np.asarray(outputs[0], dtype=np.float32)

    def score(self, beats: FloatArray) -> Scores:
        """Score raw beats (training-row units); a beat is abnormal when error > threshold.

        Raises `UnscorableBeatsError` for beats whose samples are so large that the model's
        arithmetic overflows (their error would be NaN, and NaN > threshold is False).
        """
        metadata = self.metadata
        normalised, shifts = prepare_beats(
            beats, metadata.normalisation, metadata.smoothing, metadata.alignment
        )
        reconstructions = self.reconstruct(normalised)
        errors = mean_absolute_error(normalised, reconstructions)
        if not np.isfinite(errors).all():
            raise UnscorableBeatsError(np.flatnonzero(~np.isfinite(errors)).tolist())
        return Scores(errors, normalised, reconstructions, shifts)


def load_scorer(model_dir: Path, intra_op_threads: int = 1) -> Scorer:
    """Load a model directory, checking it against its metadata; raises `ArtifactError`."""
    metadata = read_metadata(model_dir)
    path = model_dir / ONNX_FILE
    # The bytes the session runs are the bytes checked here: a directory swapped in between the
    # metadata check and this read (a retrain landing) fails the check instead of mixing models.
    try:
        model_bytes = path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot be read ({exc.strerror})") from None
    if hashlib.sha256(model_bytes).hexdigest() != metadata.files[ONNX_FILE]:
        raise ArtifactError(f"{path}: changed while it was being loaded; try again")
    session = _open_session(model_bytes, path, intra_op_threads)
    _check_model_shape(session, metadata, path)
    return Scorer(session, metadata)


def _open_session(model: bytes, path: Path, intra_op_threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = intra_op_threads
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable models
        raise ArtifactError(f"{path}: not a loadable ONNX model ({exc})") from None


def _check_model_shape(session: ort.InferenceSession, metadata: ModelMetadata, path: Path) -> None:
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or len(outputs) != 1:
        raise ArtifactError(f"{path}: expected one input and one output")
    expected = metadata.input_length
    for kind, shape in (("input", inputs[0].shape), ("output", outputs[0].shape)):
        width = shape[-1] if shape else None
        if width != expected:
            raise ArtifactError(
                f"{path}: model {kind} has {width} samples per beat, "
                f"metadata.json says input_length {expected}"
            )
