"""The reference training protocol (TensorFlow's autoencoder tutorial, made reproducible).

1. `train_test_split(beats, labels, test_size=0.2, random_state=21)` over all rows, unstratified.
2. Min-max normalisation (one global min and max) fitted on the training part's normal beats.
3. A seeded slice of those normal beats is held out for early stopping on its loss.
4. The autoencoder is fitted on the remaining normal training beats.
5. Threshold = mean + k * std of the MAE of the training part's normal beats (step 2's beats:
   the fitted ones and the validation slice), as in the tutorial.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from sklearn.model_selection import train_test_split

from app.artifact import Examples, MeanPlusKStd, MinMaxNormalisation, ThresholdRule, TrainingErrors
from app.scoring import denormalise, mean_absolute_error, normalise
from training.config import TrainConfig
from training.data import Dataset
from training.model import build_from_config

Log = Callable[[str], None]


class TrainingError(Exception):
    """The protocol cannot run on this data, or the trained model fails a sanity check."""


@dataclass(frozen=True)
class Split:
    """The reference split, in the data's raw units."""

    train_beats: np.ndarray
    train_is_normal: np.ndarray
    test_beats: np.ndarray
    test_is_normal: np.ndarray


@dataclass(frozen=True)
class TrainingResult:
    model: keras.Model
    config: TrainConfig
    dataset: Dataset
    split: Split
    normalisation: MinMaxNormalisation
    threshold: float
    threshold_rule: ThresholdRule
    training_errors: TrainingErrors
    history: dict[str, list[float]]
    epochs_run: int
    best_epoch: int
    train_errors: np.ndarray
    test_errors: np.ndarray
    examples: Examples
    seconds: float


def split_reference(dataset: Dataset, test_size: float, random_state: int) -> Split:
    train_x, test_x, train_y, test_y = train_test_split(
        dataset.beats, dataset.is_normal, test_size=test_size, random_state=random_state
    )
    return Split(train_x, train_y, test_x, test_y)


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
    return summarise_errors(errors).mean_plus_k_std(k), MeanPlusKStd(k=k)


def hold_out(beats: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(fit, validation): a seeded random `fraction` of the rows (at least one) is held out."""
    if fraction <= 0:
        return beats, beats[:0]
    order = np.random.default_rng(seed).permutation(len(beats))
    n_validation = max(1, round(fraction * len(beats)))
    return beats[order[n_validation:]], beats[order[:n_validation]]


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
    fit_x, val_x = hold_out(normal_train_x, config.validation_fraction, config.seed)
    model = build_from_config(dataset.beats.shape[1], config.model)
    history, best_epoch = _fit(model, fit_x, val_x, config, log)
    train_errors = reconstruction_errors(model, normal_train_x)
    threshold, rule = threshold_from_errors(train_errors, config.threshold_k)
    return TrainingResult(
        model=model,
        config=config,
        dataset=dataset,
        split=split,
        normalisation=norm,
        threshold=threshold,
        threshold_rule=rule,
        training_errors=summarise_errors(train_errors),
        history=history,
        epochs_run=len(history["loss"]),
        best_epoch=best_epoch,
        train_errors=train_errors,
        test_errors=reconstruction_errors(model, normalise(split.test_beats, norm)),
        examples=derive_examples(model, split, norm, threshold),
        seconds=time.perf_counter() - started,
    )


def _fit(
    model: keras.Model, fit_x: np.ndarray, val_x: np.ndarray, config: TrainConfig, log: Log | None
) -> tuple[dict[str, list[float]], int]:
    """Fit with early stopping on the validation slice, if there is one: (history, best epoch)."""
    callbacks: list[keras.callbacks.Callback] = []
    stopper = keras.callbacks.EarlyStopping(
        monitor="val_loss", patience=config.patience, restore_best_weights=True
    )
    if len(val_x):
        callbacks.append(stopper)
    if log is not None:
        callbacks.append(EpochLog(config.epochs, log))
    fitted = model.fit(
        fit_x,
        fit_x,
        epochs=config.epochs,
        batch_size=config.batch_size,
        validation_data=(val_x, val_x) if len(val_x) else None,
        shuffle=True,
        callbacks=callbacks,
        verbose=0,
    )
    history = {name: [float(value) for value in values] for name, values in fitted.history.items()}
    epochs_run = len(history["loss"])
    best_epoch = stopper.best_epoch + 1 if len(val_x) else epochs_run
    if log is not None and epochs_run < config.epochs:
        log(f"early stop after epoch {epochs_run}: kept the weights of epoch {best_epoch}")
    return history, best_epoch


def derive_examples(
    model: keras.Model, split: Split, norm: MinMaxNormalisation, threshold: float
) -> Examples:
    """Swagger examples in raw units, made from aggregates, never from a single data row.

    normal: the model's reconstruction of the mean training normal beat;
    abnormal: the mean of the training part's abnormal beats.
    Both must land on their side of the threshold, or training fails loudly.
    """
    mean_normal = split.train_beats[split.train_is_normal].mean(axis=0, keepdims=True)
    normal = denormalise(reconstruct(model, normalise(mean_normal, norm)), norm)[0]
    mean_abnormal = split.train_beats[~split.train_is_normal].mean(axis=0)
    examples = Examples(normal=_rounded(normal), abnormal=_rounded(mean_abnormal))
    for name, want_abnormal in (("normal", False), ("abnormal", True)):
        beat = np.asarray(getattr(examples, name), dtype=np.float32)
        error = float(reconstruction_errors(model, normalise(beat[None, :], norm))[0])
        if (error > threshold) != want_abnormal:
            raise TrainingError(
                f"the derived {name} example scores {error:.5f} against the threshold "
                f"{threshold:.5f}; it would be classified the wrong way"
            )
    return examples


def _rounded(beat: np.ndarray, decimals: int = 6) -> list[float]:
    return [round(float(value), decimals) for value in beat]
