"""The model directory format: the one contract between `training/` (writer) and `app/` (reader).

A model directory holds:

- `metadata.json`   : everything below (`ModelMetadata`), including the sha256 of every other file
- `model.onnx`      : the inference form, run by onnxruntime in the service
- `model.keras`     : the Keras model, for retraining and inspection (never loaded by the service)
- `thresholds.csv`  : held-out precision, recall, F1, accuracy and false-alarm rate by threshold
- `*.png`           : plots from the training report (loss, error histogram, ROC,
                      precision-recall, reconstructions)

This module has no FastAPI and no TensorFlow in it, so both sides can import it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

FORMAT_VERSION: Literal[2] = 2
METADATA_FILE = "metadata.json"
ONNX_FILE = "model.onnx"
KERAS_FILE = "model.keras"

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class ArtifactError(Exception):
    """A model directory that cannot be served: missing, corrupt or inconsistent."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MinMaxNormalisation(_Frozen):
    """x' = (x - min) / (max - min), fitted on the training normal beats."""

    method: Literal["min-max"] = "min-max"
    min: FiniteFloat
    max: FiniteFloat

    @model_validator(mode="after")
    def _check_range(self) -> MinMaxNormalisation:
        if not self.max > self.min:
            raise ValueError(f"max ({self.max}) must be greater than min ({self.min})")
        return self


class Smoothing(_Frozen):
    """A Savitzky-Golay filter applied to every normalised beat before it is reconstructed and
    compared: the error then measures the beat's shape, not the noise riding on it.

    `coefficients` are `scipy.signal.savgol_coeffs(window, polyorder, use="dot")`, computed when
    training: each smoothed sample is their dot product with the `window` samples centred on it,
    each edge extended by its nearest sample (`savgol_filter(..., mode="nearest")`'s result), so
    serving needs numpy only.
    """

    method: Literal["savitzky-golay"] = "savitzky-golay"
    window: Annotated[int, Field(ge=3, description="samples; odd")]
    polyorder: Annotated[int, Field(ge=0)]
    coefficients: list[FiniteFloat]

    @model_validator(mode="after")
    def _check_filter(self) -> Smoothing:
        if self.window % 2 == 0 or self.polyorder >= self.window:
            raise ValueError(
                f"window ({self.window}) must be odd and above polyorder ({self.polyorder})"
            )
        if len(self.coefficients) != self.window:
            raise ValueError(f"{len(self.coefficients)} coefficients for a window of {self.window}")
        if abs(sum(self.coefficients) - 1) > 1e-6:  # a smoothing filter keeps a constant beat
            raise ValueError(f"the coefficients sum to {sum(self.coefficients)}, not 1")
        return self


class Alignment(_Frozen):
    """Each compared beat moved in time to where it best matches the typical normal beat, so a
    beat cut a few samples early or late (as every beat cut from a recording is) is compared in
    the place the model learnt, not scored abnormal for where it was cut.

    The candidates are the shifts from -`max_shift` to `max_shift` beat samples in steps of
    `step`; the one chosen minimises the squared distance between the beat and `template` (the
    mean of the training normal beats as compared: normalised, smoothed) shifted by it, and the
    beat is moved back by it (linear interpolation, wrapped around at the ends).
    """

    method: Literal["template-shift"] = "template-shift"
    max_shift: Annotated[float, Field(gt=0, allow_inf_nan=False, description="beat samples")]
    step: Annotated[float, Field(gt=0, allow_inf_nan=False, description="beat samples")]
    template: list[FiniteFloat]

    @model_validator(mode="after")
    def _check_shifts(self) -> Alignment:
        if self.step > self.max_shift:
            raise ValueError(f"step ({self.step}) is larger than max_shift ({self.max_shift})")
        if self.max_shift >= len(self.template) / 2:
            raise ValueError(
                f"max_shift ({self.max_shift}) is half a beat or more "
                f"(a template of {len(self.template)} samples)"
            )
        return self


class TrainingErrors(_Frozen):
    """The MAE of the training normal beats: what every threshold rule starts from.

    Kept so that a client can ask for another operating point (mean + k * std) without retraining.
    """

    n: Annotated[int, Field(gt=0)]
    mean: FiniteFloat
    std: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    percentiles: dict[str, FiniteFloat] = Field(
        description='percentile (as text, e.g. "99") -> error at that percentile'
    )

    def mean_plus_k_std(self, k: float) -> float:
        return self.mean + k * self.std


class MeanPlusKStd(_Frozen):
    """threshold = mean + k * std of the training normal beats' MAE (the tutorial's rule, k = 1)."""

    name: Literal["mean_plus_k_std"] = "mean_plus_k_std"
    k: FiniteFloat

    def describe(self) -> str:
        return f"mean + {self.k:g} * std of the training normal beats' MAE"


class Percentile(_Frozen):
    """threshold = the given percentile of the training normal beats' MAE."""

    name: Literal["percentile"] = "percentile"
    percentile: Annotated[float, Field(gt=0, le=100)]

    def describe(self) -> str:
        return f"{self.percentile:g}th percentile of the training normal beats' MAE"


class CalibrationResult(_Frozen):
    """What the calibrated threshold achieves on the labelled beats it was chosen on (weighted only
    in models calibrated on the validation slice alone: `Calibrated.normal_weight`)."""

    precision: FiniteFloat
    recall: FiniteFloat
    f1: FiniteFloat
    false_alarm_rate: FiniteFloat
    accuracy: FiniteFloat


class Calibrated(_Frozen):
    """threshold chosen on the training part's labelled beats (never the test split).

    objective `max_f1` maximises F1; `false_alarm_rate` catches the most abnormal beats while
    flagging at most `target_false_alarm_rate` of the normal ones (ties: fewer false alarms).
    """

    name: Literal["calibrated"] = "calibrated"
    objective: Literal["max_f1", "false_alarm_rate"]
    target_false_alarm_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    n_normal: Annotated[int, Field(gt=0)]
    n_abnormal: Annotated[int, Field(gt=0)]
    normal_weight: Annotated[float, Field(gt=0, allow_inf_nan=False)] = Field(
        default=1.0,
        description="each calibration normal beat counts as this many in precision, F1 and "
        "accuracy; models calibrated on the validation slice alone weighted it to the training "
        "part's class mix, those calibrated on the whole training part need no weight (1)",
    )
    achieved: CalibrationResult

    @model_validator(mode="after")
    def _check_target(self) -> Calibrated:
        if (self.objective == "false_alarm_rate") != (self.target_false_alarm_rate is not None):
            raise ValueError("target_false_alarm_rate goes with objective false_alarm_rate only")
        return self

    def describe(self) -> str:
        slice_ = f"{self.n_normal} normal and {self.n_abnormal} abnormal calibration beats"
        if self.normal_weight != 1:
            slice_ += f" (normal beats weighted x{self.normal_weight:.3g})"
        if self.objective == "max_f1":
            return f"calibrated to maximise F1 on {slice_}"
        return (
            f"calibrated for a false-alarm rate of at most {self.target_false_alarm_rate:g} "
            f"on {slice_}"
        )


ThresholdRule = Annotated[MeanPlusKStd | Percentile | Calibrated, Field(discriminator="name")]


class ConfusionMatrix(_Frozen):
    """Counts with `abnormal` as the positive class."""

    true_negative: int
    false_positive: int
    false_negative: int
    true_positive: int


class Metrics(_Frozen):
    """Held-out evaluation; `abnormal` is the positive class."""

    positive_class: Literal["abnormal"] = "abnormal"
    n_test: int
    accuracy: FiniteFloat
    precision: FiniteFloat
    recall: FiniteFloat
    f1: FiniteFloat
    roc_auc: FiniteFloat
    confusion_matrix: ConfusionMatrix


# A value in metadata.json's hyperparameters: a number, a name, layer sizes or member families.
Hyperparameter = float | int | str | list[int] | list[float] | list[str]


class TrainingRecord(_Frozen):
    """Enough to reproduce the model: data, split, seed, hyper-parameters, library versions."""

    data_sha256: str
    data_source: str
    n_rows: int
    split: str
    seed: int
    architecture: str = Field(
        default="dense",
        description="the autoencoder family (ecg-train --architecture), or a mixed ensemble's "
        "families joined by '+'; their own hyper-parameters are in hyperparameters. Models from "
        "before the families lack it and read as dense, and so do recording baselines written "
        "before 2026-12-07, which were fitted with the default family of their day",
    )
    epochs_run: int  # summed over the autoencoders of an ensemble
    hyperparameters: dict[str, Hyperparameter]
    library_versions: dict[str, str]
    processor: str | None = Field(
        default=None,
        description="the CPU it was trained on (older models: not recorded); the same seed trains "
        "another network on another processor",
    )
    network_from: str | None = Field(
        default=None,
        description="the model version whose network, normalisation and smoothing this model "
        "keeps, with its threshold taken again by the rule recorded here (ecg-train --from-model; "
        "seed, epochs and the fitting's hyper-parameters are that network's, threshold_max_shift "
        "the new rule's); none: the threshold was taken when the network was fitted",
    )


class Examples(_Frozen):
    """Swagger UI examples, derived from the model (never rows of the data set); a baseline fitted
    without labels has no abnormal example."""

    normal: list[FiniteFloat]
    abnormal: list[FiniteFloat] | None = None


class BeatWindow(_Frozen):
    """How one of the model's beats is cut from a continuous recording: the recording path's half
    of the contract, so that a beat found in a recording looks like the beats the model learnt.

    `r_to_r`: a beat runs from one R peak to the next, shifted earlier by `r_peak_position` of that
    RR interval, then resampled to `input_length` samples; so the R peak sits at
    `r_peak_position` of the beat (sample `r_peak_position * (input_length - 1)`). ECG5000's beats
    were made this way (QRS to QRS, the QRS a few samples after the start).
    """

    method: Literal["r_to_r"] = "r_to_r"
    r_peak_position: Annotated[float, Field(ge=0, lt=0.5)]
    qrs_polarity: Literal["negative", "positive"] = Field(
        description="the deflection of the QRS that the model's beats are aligned on: the deepest "
        "trough (negative) or the highest peak (positive) of the lead it learnt"
    )
    per_beat_normalisation: Literal["z-score", "none"] = Field(
        description="z-score: each cut beat is scaled to mean 0 and standard deviation 1 (ddof 1) "
        "before the model's own normalisation, as ECG5000's beats were"
    )
    alignment_search: Annotated[float, Field(ge=0, le=20)] = Field(
        default=0.0,
        description="how far (in the model's samples) each beat boundary is searched either side "
        "of where the R peak puts it, for the alignment the model reconstructs best; the "
        "training beats' own fiducial wandered this much",
    )


class RhythmRule(_Frozen):
    """Timing: a beat is premature when its RR interval is below `premature_below` of the local
    rhythm (the median RR interval of the `local_beats` beats before it); calibrated on the
    baseline stretch a model was fitted on (`app.recordings.rhythm`)."""

    local_beats: Annotated[int, Field(ge=1, le=64)] = 8
    premature_below: Annotated[float, Field(gt=0, lt=1)]
    baseline_median: FiniteFloat | None = None
    baseline_sigma: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None
    baseline_beats: Annotated[int, Field(ge=0)] | None = None


class Provenance(_Frozen):
    """Whose heart the model learnt: a model of one person's beats cannot judge another's."""

    dataset: str
    record: str = Field(description="the recording(s) the beats came from")
    subject: str | None = None
    lead: str | None = Field(default=None, description="None where the data set does not say")
    sampling_rate_hz: Annotated[float, Field(gt=0)] | None = None
    stretch_s: tuple[FiniteFloat, FiniteFloat] | None = Field(
        default=None, description="for a baseline: the stretch of the recording it was fitted on"
    )


class ModelMetadata(_Frozen):
    format_version: Literal[2] = FORMAT_VERSION
    model_version: str
    created_at: str
    input_length: Annotated[int, Field(gt=0)]
    normalisation: MinMaxNormalisation
    smoothing: Smoothing | None = Field(
        default=None, description="applied after normalisation; None: beats are scored unsmoothed"
    )
    alignment: Alignment | None = Field(
        default=None, description="applied after smoothing; None: beats are compared where cut"
    )
    threshold: FiniteFloat
    threshold_rule: ThresholdRule
    training_errors: TrainingErrors
    error_metric: Literal["mae"] = "mae"
    metrics: Metrics | None = Field(
        description="held-out evaluation; None for a baseline fitted without labels"
    )
    training: TrainingRecord
    beat_window: BeatWindow
    provenance: Provenance
    rhythm: RhythmRule | None = Field(
        default=None,
        description="the timing rule fitted with the model; None: beats are judged by shape "
        "alone unless a request sets premature_below (ECG5000's beats carry no timing)",
    )
    examples: Examples
    files: dict[str, str] = Field(description="file name -> sha256 of every artifact file")

    @model_validator(mode="after")
    def _check_consistency(self) -> ModelMetadata:
        for name, beat in (("normal", self.examples.normal), ("abnormal", self.examples.abnormal)):
            if beat is not None and len(beat) != self.input_length:
                raise ValueError(
                    f"examples.{name} has {len(beat)} samples, input_length is {self.input_length}"
                )
        if self.smoothing is not None and self.smoothing.window > self.input_length:
            raise ValueError(
                f"smoothing.window ({self.smoothing.window}) is longer than a beat "
                f"(input_length {self.input_length})"
            )
        if self.alignment is not None and len(self.alignment.template) != self.input_length:
            raise ValueError(
                f"alignment.template has {len(self.alignment.template)} samples, "
                f"input_length is {self.input_length}"
            )
        if ONNX_FILE not in self.files:
            raise ValueError(f"files does not list {ONNX_FILE}")
        return self


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_metadata(model_dir: Path, metadata: ModelMetadata) -> None:
    (model_dir / METADATA_FILE).write_text(metadata.model_dump_json(indent=2) + "\n")


def read_metadata(model_dir: Path) -> ModelMetadata:
    """Read and check `metadata.json` and the checksums of the files it lists."""
    path = model_dir / METADATA_FILE
    if not model_dir.is_dir():
        raise ArtifactError(f"{model_dir}: model directory not found")
    if not path.is_file():
        raise ArtifactError(f"{path}: missing")
    try:
        metadata = ModelMetadata.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(top level)"
        raise ArtifactError(f"{path}: invalid at {where}: {first['msg']}") from None
    verify_files(model_dir, metadata)
    return metadata


def verify_files(model_dir: Path, metadata: ModelMetadata) -> None:
    for name, expected in metadata.files.items():
        path = model_dir / name
        if not path.is_file():
            raise ArtifactError(f"{path}: listed in {METADATA_FILE} but missing")
        actual = file_sha256(path)
        if actual != expected:
            raise ArtifactError(
                f"{path}: sha256 {actual[:12]}... does not match {METADATA_FILE} "
                f"({expected[:12]}...); the file was changed or corrupted"
            )
