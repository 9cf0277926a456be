"""The reference training protocol (TensorFlow's autoencoder tutorial, made reproducible).

1. `train_test_split(beats, labels, test_size=0.2, random_state=21)` over all rows, unstratified.
2. Min-max normalisation (one global min and max) fitted on the training part's normal beats.
3. A seeded slice of those normal beats is held out for early stopping on its loss.
4. The autoencoder is fitted on the remaining normal training beats, each shifted by a random
   fraction of a sample every epoch (`training.data.augment`), by default a tenth of them given a
   baseline step (`TrainConfig.step_height`; not for a recording baseline), and the
   worst-reconstructed few trimmed from the loss after a warm-up (`training.fitting.trimming`).
   With an ensemble, several are fitted from different seeds (and families, for a mix) and the
   model averages their outputs.
5. Beats are scored as the service scores them: normalised, smoothed (`TrainConfig.smoothing`),
   aligned to the mean fitted normal beat (`TrainConfig.align_max_shift`), reconstructed, MAE.
6. The threshold, by the configured rule (`training.fitting.thresholds`):
   - mean + k * std (the tutorial's, k = 1) or a percentile of the MAE of the training part's
     normal beats (step 2's beats: the fitted ones and the validation slice), each shifted once
     as the fitting shifted them (`--max-shift`), since beats to be scored are never aligned;
   - or calibrated on the training part's labelled beats: its normal beats (the fitted ones and
     the validation slice) and its abnormal beats, which the model was not fitted on. Never the
     test part.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from pydantic import ValidationError
from scipy.signal import savgol_coeffs
from sklearn.metrics import roc_auc_score

from app.inference.artifact import (
    Alignment,
    Calibrated,
    CalibrationResult,
    Examples,
    MeanPlusKStd,
    MinMaxNormalisation,
    Percentile,
    Smoothing,
    ThresholdRule,
    TrainingErrors,
)
from app.inference.scoring import (
    denormalise,
    mean_absolute_error,
    normalise,
    prepare_beats,
    smooth,
)
from training.config import TrainConfig
from training.data.augment import beat_samples_per_recording_sample, jitter
from training.data.sources import Dataset
from training.data.split import Split, hold_out_indices, split_reference
from training.fitting.model import average_of, build_from_config
from training.fitting.thresholds import (
    Objective,
    OperatingPoint,
    calibrated_threshold,
    mean_plus_k_std_threshold,
    percentile_threshold,
)
from training.fitting.trimming import TrimWorstBeats, WeightedBeats

Log = Callable[[str], None]


class TrainingError(Exception):
    """The protocol cannot run on this data, or the trained model fails a sanity check."""


@dataclass(frozen=True)
class CalibrationSlice:
    """The training part's labelled beats a calibrated threshold is chosen on, with their MAE.

    Every normal beat of the training part (the fitted ones and the validation slice) and every
    abnormal one; `*_rows` are row indices into the data set. The fitted normal beats are in it
    because the autoencoder reconstructs them no better than the validation slice, and ten times as
    many beats leave less of the threshold to chance than the validation slice alone, which
    calibrated before (README, "Calibrated on the whole training part").
    """

    normal_rows: np.ndarray
    abnormal_rows: np.ndarray
    normal_errors: np.ndarray
    abnormal_errors: np.ndarray


@dataclass(frozen=True)
class MemberFit:
    """One fitted autoencoder: its seed, its loss history and the epoch whose weights it kept.

    Chosen from several (`TrainConfig.candidates`), it also records every candidate's seed and
    training-part ROC AUC, its own among them.
    """

    seed: int
    model: keras.Model
    history: dict[str, list[float]]
    best_epoch: int
    candidate_seeds: tuple[int, ...] = ()
    candidate_roc_aucs: tuple[float, ...] = ()

    @property
    def epochs_run(self) -> int:
        return len(self.history["loss"])


@dataclass(frozen=True)
class TrainingResult:
    model: keras.Model
    config: TrainConfig
    dataset: Dataset
    split: Split
    normalisation: MinMaxNormalisation
    smoothing: Smoothing | None
    alignment: Alignment | None
    threshold: float
    threshold_rule: ThresholdRule
    training_errors: TrainingErrors  # of the threshold's beats (step 6)
    members: tuple[MemberFit, ...]  # one per autoencoder the model averages
    train_errors: np.ndarray  # of the training part's normal beats, unshifted, in their order
    test_errors: np.ndarray
    calibration: CalibrationSlice
    examples: Examples
    seconds: float

    @property
    def epochs_run(self) -> int:
        """Epochs trained, over all members."""
        return sum(member.epochs_run for member in self.members)

    def errors(self, beats: np.ndarray) -> np.ndarray:
        """The MAE of raw beats, as the exported model directory scores them."""
        return scored_errors(self.model, self.normalisation, self.smoothing, self.alignment, beats)


def scored_errors(
    model: keras.Model,
    norm: MinMaxNormalisation,
    smoothing: Smoothing | None,
    alignment: Alignment | None,
    beats: np.ndarray,
) -> np.ndarray:
    """Raw beats normalised, smoothed, aligned, reconstructed and compared: the service's path."""
    return reconstruction_errors(model, prepare_beats(beats, norm, smoothing, alignment)[0])


def smoothing_of(config: TrainConfig) -> Smoothing | None:
    if not config.smoothing_window:
        return None
    window, polyorder = config.smoothing_window, config.smoothing_polyorder
    try:
        coefficients = savgol_coeffs(window, polyorder, use="dot").tolist()
        return Smoothing(window=window, polyorder=polyorder, coefficients=coefficients)
    except (ValueError, ValidationError):
        raise TrainingError(
            f"smoothing window {config.smoothing_window} with polynomial order "
            f"{config.smoothing_polyorder}: the window must be odd and above the order"
        ) from None


def alignment_of(
    config: TrainConfig, normal_x: np.ndarray, smoothing: Smoothing | None
) -> Alignment | None:
    """The alignment to the mean of `normal_x` (normalised normal beats) as compared, smoothed."""
    if not config.align_max_shift:
        return None
    per_recording_sample = beat_samples_per_recording_sample(normal_x.shape[1])
    try:
        return Alignment(
            max_shift=config.align_max_shift * per_recording_sample,
            step=config.align_step * per_recording_sample,
            template=smooth(normal_x, smoothing).mean(axis=0, dtype=np.float64).tolist(),
        )
    except ValidationError as exc:
        reason = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise TrainingError(
            f"alignment of up to {config.align_max_shift:g} samples in steps of "
            f"{config.align_step:g}: {reason}"
        ) from None


def threshold_beats(beats: np.ndarray, config: TrainConfig) -> np.ndarray:
    """The beats the threshold is taken over: each shifted once, by a seeded random shift of up
    to `threshold_shift` either way (by default `max_shift`, as in fitting; 0: unshifted)."""
    limit = config.threshold_shift
    if limit <= 0:
        return beats
    shifts = np.random.default_rng(config.seed).uniform(-limit, limit, len(beats))
    return jitter(beats, shifts)


def _check_split(split: Split) -> None:
    """Training needs normal beats; evaluation and the abnormal example need both classes."""
    parts = (("training", split.train_is_normal), ("test", split.test_is_normal))
    for part, is_normal in parts:
        for name, count in (("normal", is_normal.sum()), ("abnormal", (~is_normal).sum())):
            if count < 2:
                raise TrainingError(
                    f"the {part} part of the split has {count} {name} beats; at least 2 are needed"
                )


def fit_normalisation(beats: np.ndarray) -> MinMaxNormalisation:
    return MinMaxNormalisation(min=float(np.min(beats)), max=float(np.max(beats)))


def reconstruct(model: keras.Model, normalised: np.ndarray) -> np.ndarray:
    # A direct call, not `predict`: no tf.function retraced (and warned about) per input shape.
    return np.asarray(keras.ops.convert_to_numpy(model(normalised, training=False)))


def reconstruction_errors(model: keras.Model, normalised: np.ndarray) -> np.ndarray:
    """Per-beat MAE of normalised beats and their reconstructions, as the service computes it."""
    return mean_absolute_error(normalised, reconstruct(model, normalised))


REPORTED_PERCENTILES = (50, 90, 95, 97.5, 99, 99.5, 100)


def summarise_errors(errors: np.ndarray) -> TrainingErrors:
    return TrainingErrors(
        n=len(errors),
        mean=float(np.mean(errors)),
        std=float(np.std(errors)),
        percentiles={f"{p:g}": float(np.percentile(errors, p)) for p in REPORTED_PERCENTILES},
    )


def threshold_from_errors(errors: np.ndarray, k: float) -> tuple[float, MeanPlusKStd]:
    return mean_plus_k_std_threshold(errors, k), MeanPlusKStd(k=k)


def choose_threshold(
    config: TrainConfig, train_errors: np.ndarray, calibration: CalibrationSlice
) -> tuple[float, ThresholdRule]:
    """The threshold by `config.threshold_rule`, and the rule as the model directory records it."""
    if config.threshold_rule == "mean-std":
        return threshold_from_errors(train_errors, config.threshold_k)
    if config.threshold_rule == "percentile":
        percentile = config.threshold_percentile
        return percentile_threshold(train_errors, percentile), Percentile(percentile=percentile)
    return calibrate(calibration, config)


def calibrate(calibration: CalibrationSlice, config: TrainConfig) -> tuple[float, Calibrated]:
    target = config.target_false_alarm_rate if config.calibrate_for == "false-alarm-rate" else None
    objective: Objective = "max_f1" if target is None else "false_alarm_rate"
    point = calibrated_threshold(
        calibration.normal_errors,
        calibration.abnormal_errors,
        objective,
        target,
    )
    rule = Calibrated(
        objective=objective,
        target_false_alarm_rate=target,
        n_normal=len(calibration.normal_rows),
        n_abnormal=len(calibration.abnormal_rows),
        achieved=calibration_result(point),
    )
    return point.threshold, rule


def calibration_result(point: OperatingPoint) -> CalibrationResult:
    return CalibrationResult(
        precision=point.precision,
        recall=point.recall,
        f1=point.f1,
        false_alarm_rate=point.false_alarm_rate,
        accuracy=point.accuracy,
    )


def seed_everything(seed: int) -> None:
    keras.utils.set_random_seed(seed)
    with contextlib.suppress(AttributeError, RuntimeError):  # not in this TF build
        tf.config.experimental.enable_op_determinism()


class EpochLog(keras.callbacks.Callback):  # type: ignore[misc]
    """One line per epoch: losses and time."""

    def __init__(self, epochs: int, log: Log) -> None:
        super().__init__()
        self._epochs = epochs
        self._log = log
        self._started = 0.0

    def on_epoch_begin(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
        logs = logs or {}
        losses = "  ".join(f"{name} {value:.5f}" for name, value in logs.items())
        seconds = time.perf_counter() - self._started
        self._log(
            f"epoch {epoch + 1:>{len(str(self._epochs))}}/{self._epochs}  {losses}  {seconds:.1f}s"
        )


def train(dataset: Dataset, config: TrainConfig, log: Log | None = None) -> TrainingResult:
    """Run the protocol; `log` receives progress lines (None: silent)."""
    started = time.perf_counter()
    seed_everything(config.seed)
    split = split_reference(dataset, config.test_size, config.split_random_state)
    _check_split(split)
    normal_train = split.train_beats[split.train_is_normal]
    norm = fit_normalisation(normal_train)
    normal_train_x = normalise(normal_train, norm)
    fit, validation = hold_out_indices(len(normal_train_x), config.validation_fraction, config.seed)
    smoothing = smoothing_of(config)  # before fitting: options it refuses fail at once
    alignment = alignment_of(config, normal_train_x[fit], smoothing)

    def separation(network: keras.Model) -> float:
        return training_part_roc_auc(network, split, norm, smoothing, alignment)

    members = tuple(
        fit_chosen_member(
            index, normal_train_x[fit], normal_train_x[validation], config, log, separation
        )
        for index in range(config.model.ensemble_size)
    )
    model = average_of([member.model for member in members], dataset.beats.shape[1])

    def errors_of(beats: np.ndarray) -> np.ndarray:
        return scored_errors(model, norm, smoothing, alignment, beats)

    taken = take_threshold(errors_of, split, config)
    return TrainingResult(
        model=model,
        config=config,
        dataset=dataset,
        split=split,
        normalisation=norm,
        smoothing=smoothing,
        alignment=alignment,
        threshold=taken.threshold,
        threshold_rule=taken.rule,
        training_errors=taken.training_errors,
        members=members,
        train_errors=taken.train_errors,
        test_errors=errors_of(split.test_beats),
        calibration=taken.calibration,
        examples=derive_examples(model, split, norm, taken.threshold, errors_of),
        seconds=time.perf_counter() - started,
    )


@dataclass(frozen=True)
class TakenThreshold:
    """Step 6's threshold, and the errors it was taken from."""

    threshold: float
    rule: ThresholdRule
    training_errors: TrainingErrors  # of the threshold's beats
    train_errors: np.ndarray  # of the training part's normal beats, unshifted, in their order
    calibration: CalibrationSlice


def take_threshold(
    errors_of: Callable[[np.ndarray], np.ndarray], split: Split, config: TrainConfig
) -> TakenThreshold:
    """The threshold by `config`'s rule over the training part's normal beats (each shifted by up
    to `threshold_shift`) or its calibration slice, with `errors_of` scoring raw beats: for a model
    just fitted (`train`) and for one whose threshold is taken again
    (`training.fitting.rethreshold`)."""
    normal_train = split.train_beats[split.train_is_normal]
    train_errors = errors_of(normal_train)
    threshold_errors = errors_of(threshold_beats(normal_train, config))
    calibration = calibration_slice(errors_of, split, train_errors)
    threshold, rule = choose_threshold(config, threshold_errors, calibration)
    return TakenThreshold(
        threshold=threshold,
        rule=rule,
        training_errors=summarise_errors(threshold_errors),
        train_errors=train_errors,
        calibration=calibration,
    )


def calibration_slice(
    errors_of: Callable[[np.ndarray], np.ndarray],
    split: Split,
    train_errors: np.ndarray,
) -> CalibrationSlice:
    """The training part's normal and abnormal beats; `train_errors` are the errors of its normal
    beats, in their order there."""
    abnormal = ~split.train_is_normal
    return CalibrationSlice(
        normal_rows=split.train_rows[split.train_is_normal],
        abnormal_rows=split.train_rows[abnormal],
        normal_errors=train_errors,
        abnormal_errors=errors_of(split.train_beats[abnormal]),
    )


def member_seed(seed: int, index: int) -> int:
    """Member 0 uses the run's seed; the others use seeds far from those of neighbouring runs."""
    return seed + 1000 * index


def training_part_roc_auc(
    network: keras.Model,
    split: Split,
    norm: MinMaxNormalisation,
    smoothing: Smoothing | None,
    alignment: Alignment | None,
) -> float:
    """How well one autoencoder's errors rank the training part's abnormal beats above its normal
    ones, scored as the service scores them; the test rows are not looked at."""
    model = average_of([network], split.train_beats.shape[1])
    errors = scored_errors(model, norm, smoothing, alignment, split.train_beats)
    return float(roc_auc_score(~split.train_is_normal, errors))


def fit_chosen_member(
    index: int,
    fit_x: np.ndarray,
    val_x: np.ndarray,
    config: TrainConfig,
    log: Log | None,
    separation: Callable[[keras.Model], float],
) -> MemberFit:
    """Member `index`: the best by `separation` of `config.candidates` autoencoders fitted from
    different seeds (the first of the best, on a tie), or the only one."""
    if config.candidates == 1:
        return fit_member(index, fit_x, val_x, config, log)
    fits = [fit_member(index, fit_x, val_x, config, log, j) for j in range(config.candidates)]
    roc_aucs = tuple(separation(fit.model) for fit in fits)
    best = fits[int(np.argmax(roc_aucs))]
    if log is not None:
        figures = ", ".join(
            f"{fit.seed} {auc:.4f}" for fit, auc in zip(fits, roc_aucs, strict=True)
        )
        log(f"autoencoder {index + 1}: kept seed {best.seed} (training-part ROC AUC: {figures})")
    return replace(
        best, candidate_seeds=tuple(fit.seed for fit in fits), candidate_roc_aucs=roc_aucs
    )


def fit_member(
    index: int,
    fit_x: np.ndarray,
    val_x: np.ndarray,
    config: TrainConfig,
    log: Log | None,
    candidate: int = 0,
) -> MemberFit:
    """Build and fit one autoencoder; all but the run's first are seeded on their own.

    Candidate j of member i is seeded as member i + j * ensemble_size would be, so candidate 0 is
    the member fitted without a choice.
    """
    seed = member_seed(config.seed, index + candidate * config.model.ensemble_size)
    if seed != config.seed:
        seed_everything(seed)
    member = config.model.member(index)
    if log is not None and (config.model.ensemble_size > 1 or config.candidates > 1):
        family = f"{member.architecture} " if config.model.mix else ""
        of = f"{family}autoencoder {index + 1} of {config.model.ensemble_size}"
        if config.candidates > 1:
            of += f", candidate {candidate + 1} of {config.candidates}"
        log(f"{of} (seed {seed})")
    model = build_from_config(fit_x.shape[1], member)
    history, best_epoch = _fit(model, fit_x, val_x, replace(config, seed=seed), log)
    return MemberFit(seed=seed, model=model, history=history, best_epoch=best_epoch)


def _fit(
    model: keras.Model, fit_x: np.ndarray, val_x: np.ndarray, config: TrainConfig, log: Log | None
) -> tuple[dict[str, list[float]], int]:
    """Fit with early stopping on the validation slice, if there is one: (history, best epoch).

    With trimming on, the best epoch is looked for from the first trimmed epoch on.
    """
    trimming = config.trim_fraction > 0
    callbacks: list[keras.callbacks.Callback] = []
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_loss",
        patience=config.patience,
        restore_best_weights=True,
        # the first trimmed epoch, or the last one if training is shorter than the warm-up
        start_from_epoch=min(config.trim_warmup, config.epochs - 1) if trimming else 0,
    )
    if len(val_x):
        callbacks.append(stopper)
    if log is not None:
        callbacks.append(EpochLog(config.epochs, log))
    fitted = model.fit(
        **_training_data(fit_x, config, callbacks),
        epochs=config.epochs,
        validation_data=(val_x, val_x) if len(val_x) else None,
        callbacks=callbacks,
        verbose=0,
    )
    history = {name: [float(value) for value in values] for name, values in fitted.history.items()}
    epochs_run = len(history["loss"])
    best_epoch = stopper.best_epoch + 1 if len(val_x) else epochs_run
    if log is not None and epochs_run < config.epochs:
        log(f"early stop after epoch {epochs_run}: kept the weights of epoch {best_epoch}")
    return history, best_epoch


def _training_data(
    fit_x: np.ndarray, config: TrainConfig, callbacks: list[keras.callbacks.Callback]
) -> dict[str, Any]:
    """`model.fit`'s data arguments: the plain arrays, or with trimming, shifts or steps, batches.

    Trimming adds its callback to `callbacks`. The plain path (`--trim-fraction 0 --max-shift 0
    --step-height 0`) is kept as it was, so `--ensemble-size 1` with those and `--patience 10` still
    reproduces the untrimmed single autoencoder shipped before, byte for byte.
    """
    stepping = config.step_height > 0 and config.step_fraction > 0
    if config.trim_fraction <= 0 and config.max_shift <= 0 and not stepping:
        return {"x": fit_x, "y": fit_x, "batch_size": config.batch_size, "shuffle": True}
    beats = WeightedBeats(
        fit_x,
        config.batch_size,
        config.seed,
        config.max_shift,
        config.step_height,
        config.step_fraction,
    )
    if config.trim_fraction > 0:
        callbacks.insert(
            0,
            TrimWorstBeats(beats, config.trim_fraction, config.trim_warmup, reconstruction_errors),
        )
    return {"x": beats, "shuffle": False}  # `WeightedBeats` reorders the beats every epoch


def derive_examples(
    model: keras.Model,
    split: Split,
    norm: MinMaxNormalisation,
    threshold: float,
    errors_of: Callable[[np.ndarray], np.ndarray],
) -> Examples:
    """Swagger examples in raw units, made from aggregates, never from a single data row.

    normal: the model's reconstruction of the mean training normal beat, which must score under
    the threshold, or training fails loudly; abnormal: the mean of the training part's abnormal
    beats, left out when it scores under the threshold (an average of several classes of abnormal
    beat is smoother than any of them, and a model may reconstruct it well). `errors_of` scores
    raw beats as the service will.
    """
    mean_normal = split.train_beats[split.train_is_normal].mean(axis=0, keepdims=True)
    normal = denormalise(reconstruct(model, normalise(mean_normal, norm)), norm)[0]
    return examples_at(threshold, _rounded(normal), split, errors_of)


def examples_at(
    threshold: float,
    normal: list[float],
    split: Split,
    errors_of: Callable[[np.ndarray], np.ndarray],
) -> Examples:
    """The examples at `threshold`: `normal` (failing loudly if it would be flagged) and the mean
    of the training part's abnormal beats if it is flagged (`derive_examples`)."""
    normal_error = _example_error(errors_of, np.asarray(normal))
    if normal_error > threshold:
        raise TrainingError(
            f"the derived normal example scores {normal_error:.5f} against the threshold "
            f"{threshold:.5f}; it would be classified abnormal"
        )
    mean_abnormal = split.train_beats[~split.train_is_normal].mean(axis=0)
    flagged = _example_error(errors_of, mean_abnormal) > threshold
    return Examples(normal=normal, abnormal=_rounded(mean_abnormal) if flagged else None)


def _example_error(errors_of: Callable[[np.ndarray], np.ndarray], beat: np.ndarray) -> float:
    rounded = np.asarray(_rounded(beat), dtype=np.float32)
    return float(errors_of(rounded[None, :])[0])


def _rounded(beat: np.ndarray, decimals: int = 6) -> list[float]:
    return [round(float(value), decimals) for value in beat]
