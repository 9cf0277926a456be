"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.inference.artifact import ModelMetadata
from app.inference.scoring import OperatingPoint, Scores, denormalise

# Strict: a JSON string or boolean is not a sample. Finite: NaN and Infinity are refused.
Sample = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Beat = Annotated[list[Sample], Field(min_length=1)]


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    beats: list[Beat] = Field(
        min_length=1,
        description=(
            "Heartbeats, one list of samples each, in the units of the training rows "
            "(the service applies the model's stored normalisation)."
        ),
    )


class OperatingPointOptions(BaseModel):
    """The operating point query parameters every scoring endpoint takes. An unknown parameter is
    refused: a typo (`treshold`) must not leave a client believing its operating point was
    applied."""

    model_config = ConfigDict(extra="forbid")

    k: float | None = Field(
        default=None,
        ge=0,
        le=100,
        allow_inf_nan=False,
        description="Another operating point: threshold = mean + k * std of the training normal "
        "beats' error (training_errors in /v1/model). Higher k: fewer alarms.",
    )
    threshold: float | None = Field(
        default=None,
        gt=0,
        allow_inf_nan=False,
        description="Another operating point: this reconstruction-error threshold. Given with "
        "k, it takes precedence (the response's threshold_rule says so).",
    )


class CsvPredictOptions(OperatingPointOptions):
    """The query parameters of /v1/predict/csv."""

    resample: bool = Field(
        default=False,
        description="Linearly interpolate beats of another length (2 to 10,000 samples) to the "
        "model's input length, as ECG5000's beats were made; each such result says "
        "`resampled_from`. Without it, beats of another length are refused.",
    )


class PredictOptions(CsvPredictOptions):
    """The query parameters of /v1/predict: those of /v1/predict/csv, and `explain`."""

    explain: bool = Field(
        default=False, description="Also return each beat's reconstruction and per-sample error."
    )


class BeatResult(BaseModel):
    index: int = Field(description="Position of the beat in the request.")
    reconstruction_error: float = Field(
        description="MAE between the normalised beat (smoothed and aligned, if the model does) "
        "and its reconstruction."
    )
    is_anomaly: bool = Field(description="True when reconstruction_error > threshold.")
    verdict: Literal["normal", "abnormal"]
    reconstruction: list[float] | None = Field(
        default=None,
        description="With explain=true: the model's reconstruction, in the units of the beat.",
    )
    sample_errors: list[float] | None = Field(
        default=None,
        description="With explain=true: absolute error per sample (normalised units) between "
        "the beat as compared and its reconstruction; their mean is reconstruction_error.",
    )
    compared: list[float] | None = Field(
        default=None,
        description="With explain=true, for a model that smooths or aligns (GET /v1/model: "
        "smoothing, alignment): the beat as compared, in the units of the beat.",
    )
    shift: float | None = Field(
        default=None,
        description="With explain=true, for a model that aligns (GET /v1/model: alignment): the "
        "samples the beat was moved back by before it was compared (positive: it came late).",
    )
    label: str | None = Field(
        default=None,
        description="/v1/predict/csv: the row's label column, as given, when the CSV has one.",
    )
    resampled_from: int | None = Field(
        default=None,
        description="With resample=true: the beat's own number of samples, when it was "
        "resampled to the model's input length.",
    )


class PredictResponse(BaseModel):
    model_version: str
    threshold: float = Field(description="The threshold the verdicts were made against.")
    threshold_rule: str = Field(description="How that threshold was chosen.")
    results: list[BeatResult]


def predict_response_body(
    metadata: ModelMetadata,
    scores: Scores,
    point: OperatingPoint,
    explain: bool,
    labels: list[str] | None = None,
    resampled_from: list[int | None] | None = None,
) -> dict[str, Any]:
    """A `PredictResponse` as plain data: built directly, as it is on the hot path."""
    flags = scores.is_anomaly(point.threshold).tolist()
    results: list[dict[str, Any]] = [
        {
            "index": index,
            "reconstruction_error": error,
            "is_anomaly": flagged,
            "verdict": "abnormal" if flagged else "normal",
        }
        for index, (error, flagged) in enumerate(zip(scores.errors.tolist(), flags, strict=True))
    ]
    if explain:
        reconstructions = denormalise(scores.reconstructions, metadata.normalisation).tolist()
        for result, reconstruction, sample_errors in zip(
            results, reconstructions, scores.sample_errors().tolist(), strict=True
        ):
            result["reconstruction"] = reconstruction
            result["sample_errors"] = sample_errors
        if metadata.smoothing is not None or metadata.alignment is not None:
            compared = denormalise(scores.normalised, metadata.normalisation).tolist()
            for result, beat in zip(results, compared, strict=True):
                result["compared"] = beat
        if metadata.alignment is not None:
            for result, shift in zip(results, scores.shifts.tolist(), strict=True):
                result["shift"] = shift
    if labels is not None:
        for result, label in zip(results, labels, strict=True):
            result["label"] = label
    if resampled_from is not None:
        for result, length in zip(results, resampled_from, strict=True):
            if length is not None:
                result["resampled_from"] = length
    return {
        "model_version": metadata.model_version,
        "threshold": point.threshold,
        "threshold_rule": point.rule,
        "results": results,
    }


class ModelInfo(BaseModel):
    model_version: str
    created_at: str
    input_length: int
    threshold: float
    threshold_rule: dict[str, Any]
    threshold_rule_description: str
    error_metric: str
    normalisation: dict[str, Any]
    smoothing: dict[str, Any] | None = Field(
        description="The Savitzky-Golay filter every normalised beat goes through before it is "
        "reconstructed and compared (window and polynomial order); none: beats are compared as "
        "they come."
    )
    alignment: dict[str, Any] | None = Field(
        description="How each beat is moved in time before it is compared: to the shift, up to "
        "max_shift samples either way in steps of step, that best matches the template (the "
        "mean training normal beat as compared, normalised units); none: beats are compared "
        "where they were cut."
    )
    training_errors: dict[str, Any] = Field(
        description="MAE of the training normal beats (mean, std, percentiles): the basis for "
        "choosing another operating point with the k query parameter of /v1/predict."
    )
    metrics: dict[str, Any] | None = Field(
        description="Held-out evaluation; none for a baseline fitted on a recording without labels."
    )
    rhythm: dict[str, Any] | None = Field(
        description="The timing rule fitted with the model (premature_below of the local rhythm)."
    )
    beat_window: dict[str, Any] = Field(
        description="How a beat is cut from a recording to match the model's training beats."
    )
    provenance: dict[str, Any] = Field(
        description="Whose heart the model learnt: data set, record, subject, lead, sampling rate."
    )
    architecture: str = Field(
        description="The autoencoder family: dense, denoising, sparse, conv, vae, contractive or "
        "lstm (ecg-train --architecture); a mixed ensemble's families joined by '+', as in "
        "sparse+denoising."
    )
    hyperparameters: dict[str, Any] = Field(
        description="How the model was trained: the family's own hyper-parameters, then the "
        "optimisation's (epochs, ensemble, trimming, shift augmentation)."
    )
    network_from: str | None = Field(
        default=None,
        description="The model version whose network this model keeps, its threshold taken again "
        "(ecg-train --from-model); none: the threshold was taken when the network was fitted.",
    )

    @classmethod
    def from_metadata(cls, metadata: ModelMetadata) -> ModelInfo:
        return cls(
            model_version=metadata.model_version,
            created_at=metadata.created_at,
            input_length=metadata.input_length,
            threshold=metadata.threshold,
            threshold_rule=metadata.threshold_rule.model_dump(),
            threshold_rule_description=metadata.threshold_rule.describe(),
            error_metric=metadata.error_metric,
            normalisation=metadata.normalisation.model_dump(),
            smoothing=metadata.smoothing.model_dump() if metadata.smoothing else None,
            alignment=metadata.alignment.model_dump() if metadata.alignment else None,
            training_errors=metadata.training_errors.model_dump(),
            metrics=metadata.metrics.model_dump() if metadata.metrics else None,
            rhythm=metadata.rhythm.model_dump() if metadata.rhythm else None,
            beat_window=metadata.beat_window.model_dump(),
            provenance=metadata.provenance.model_dump(),
            architecture=metadata.training.architecture,
            hyperparameters=metadata.training.hyperparameters,
            network_from=metadata.training.network_from,
        )


class ModelReload(BaseModel):
    model_version: str = Field(description="The default model now serving.")
    previous_model_version: str | None = Field(
        description="The model it replaced (the same version when the directory did not change)."
    )
    models: list[str] = Field(description="Every model now served, by name.")


class ModelSummary(BaseModel):
    name: str
    default: bool = Field(description="Whether the unnamed endpoints use this model.")
    model_version: str
    provenance: dict[str, Any] = Field(description="Whose heart the model learnt.")
    roc_auc: float | None = Field(description="Held-out ROC AUC; none without a labelled test.")
    accuracy: float | None = Field(description="Held-out accuracy at the model's threshold.")
    timing_rule: bool = Field(description="Whether the model judges timing as well as shape.")

    @classmethod
    def from_metadata(cls, name: str, metadata: ModelMetadata, default: bool) -> ModelSummary:
        metrics = metadata.metrics
        return cls(
            name=name,
            default=default,
            model_version=metadata.model_version,
            provenance=metadata.provenance.model_dump(),
            roc_auc=metrics.roc_auc if metrics else None,
            accuracy=metrics.accuracy if metrics else None,
            timing_rule=metadata.rhythm is not None,
        )


class ModelList(BaseModel):
    default: str = Field(description="The model the unnamed endpoints use.")
    models: list[ModelSummary]


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "loading"]
    model_version: str | None = None


class ProblemItem(BaseModel):
    location: str = Field(description="Where in the request, e.g. beats[3][17].")
    beat: int | None = Field(default=None, description="Index of the offending beat, if any.")
    sample: int | None = Field(default=None, description="Index of the offending sample, if any.")
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem document, returned for every error."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[ProblemItem] = Field(default_factory=list)


class RecordingOptions(OperatingPointOptions):
    """The query parameters of /v1/recordings."""

    lead: str | None = Field(
        default=None,
        description="The lead to score, by name (e.g. MLII) or index; by default the first lead "
        "named like an ECG lead, else the first.",
    )
    sampling_rate: float | None = Field(
        default=None,
        description="Samples per second of a CSV upload (100 to 2000); WFDB, EDF and JSON "
        "recordings carry their own.",
    )
    premature_below: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="The timing rule's boundary: a beat whose RR interval is below this fraction "
        "of the local rhythm (the median of the RR intervals before it) is abnormal. By default "
        "the model's own timing rule, if it has one (a baseline fitted on a recording); the "
        "shipped ECG5000 model has none, so beats are judged by shape alone.",
    )


class RecordingBeat(BaseModel):
    index: int = Field(description="Position of the beat in the recording, from 0.")
    time_s: float = Field(description="Its R peak, in seconds from the start.")
    rr_s: float | None = Field(description="The RR interval before it (none for the first).")
    heart_rate_bpm: float | None = Field(description="60 / rr_s.")
    reconstruction_error: float | None = Field(description="MAE; none for an unscored beat.")
    anomaly_score: float | None = Field(
        description="How abnormal the beat is under the shape and timing rules together: the "
        "larger of error / threshold and the timing score, so 1.0 at the decision boundary and "
        "above it abnormal; orders beats for a ROC curve or another operating point."
    )
    verdict: Literal["normal", "abnormal", "unscored"]
    reasons: list[str] = Field(description="Why a beat is abnormal or unscored.")


class BadStretchInfo(BaseModel):
    start_s: float
    end_s: float
    issue: Literal["flat line", "saturation", "heavy noise"]


class RecordingResponse(BaseModel):
    beats: list[RecordingBeat]
    summary: dict[str, Any] = Field(
        description="duration_s, sampling_rate, lead, leads, n_beats, n_abnormal, n_unscored, "
        "mean_heart_rate_bpm, model_version, model_provenance (whose heart the model learnt), "
        "threshold, threshold_rule, and fit (how far these beats lie from the model's)."
    )
    warnings: list[str] = Field(description="What a reader should know; empty when nothing.")
    bad_stretches: list[BadStretchInfo] = Field(
        description="Stretches whose beats cannot be trusted; their beats are unscored."
    )
    annotations: dict[str, Any] | None = Field(
        default=None,
        description="With a WFDB annotation file: beat detection sensitivity and positive "
        "predictivity within 150 ms, and verdicts by annotated AAMI class.",
    )


class RecordingBody(BaseModel):
    """Samples as JSON: `{"sampling_rate": 360, "leads": {"MLII": [...], "V5": [...]}}`."""

    model_config = ConfigDict(extra="forbid")

    sampling_rate: float = Field(ge=100, le=2000, description="Samples per second, 100 to 2000.")
    leads: dict[str, list[float]] = Field(
        min_length=1, description="Lead name -> its samples (physical units, e.g. mV)."
    )
