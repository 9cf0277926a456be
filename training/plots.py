"""The training report's PNG plots (Agg canvas, no pyplot: nothing is ever shown on screen)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import roc_curve

from app.scoring import normalise
from training.train import TrainingResult, reconstruct

LOSS_PNG = "loss.png"
HISTOGRAM_PNG = "error_histogram.png"
ROC_PNG = "roc.png"
RECONSTRUCTIONS_PNG = "reconstructions.png"
NORMAL_COLOUR = "tab:blue"
ABNORMAL_COLOUR = "tab:red"


def _figure(width: float = 7.0, height: float = 4.5) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=100, format="png", metadata={"Software": None})
    return path


def plot_loss(history: dict[str, list[float]], best_epoch: int, path: Path) -> Path:
    figure = _figure()
    axes = figure.add_subplot()
    epochs = np.arange(1, len(history["loss"]) + 1)
    axes.plot(epochs, history["loss"], label="training loss (MAE)")
    if "val_loss" in history:
        axes.plot(epochs, history["val_loss"], label="validation loss (held-out normal beats)")
    axes.axvline(
        best_epoch, color="grey", linestyle=":", label=f"kept weights (epoch {best_epoch})"
    )
    axes.set(xlabel="epoch", ylabel="loss", title="Training and validation loss")
    axes.legend()
    return _save(figure, path)


def plot_error_histogram(
    errors: np.ndarray, is_normal: np.ndarray, threshold: float, path: Path
) -> Path:
    figure = _figure()
    axes = figure.add_subplot()
    bins = np.linspace(0.0, float(errors.max()), 60).tolist()
    axes.hist(errors[is_normal], bins=bins, alpha=0.6, color=NORMAL_COLOUR, label="normal")
    axes.hist(errors[~is_normal], bins=bins, alpha=0.6, color=ABNORMAL_COLOUR, label="abnormal")
    axes.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.4f}")
    axes.set(
        xlabel="reconstruction error (MAE)",
        ylabel="test beats",
        title="Reconstruction error of the held-out test beats",
    )
    axes.legend()
    return _save(figure, path)


def plot_roc(errors: np.ndarray, is_abnormal: np.ndarray, roc_auc: float, path: Path) -> Path:
    false_positive_rate, true_positive_rate, _ = roc_curve(is_abnormal, errors)
    figure = _figure(5.5, 5.0)
    axes = figure.add_subplot()
    axes.plot(false_positive_rate, true_positive_rate, label=f"autoencoder (AUC {roc_auc:.4f})")
    axes.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    axes.set(
        xlabel="false positive rate",
        ylabel="true positive rate (abnormal detected)",
        title="ROC of the reconstruction error",
        aspect="equal",
    )
    axes.legend(loc="lower right")
    return _save(figure, path)


def plot_reconstructions(result: TrainingResult, path: Path, per_class: int = 3) -> Path:
    """The first `per_class` normal and abnormal test beats, reconstructed, error shaded."""
    split = result.split
    beats = normalise(split.test_beats, result.normalisation)
    picks = [
        (label, index)
        for label, mask in (("normal", split.test_is_normal), ("abnormal", ~split.test_is_normal))
        for index in np.flatnonzero(mask)[:per_class]
    ]
    reconstructed = reconstruct(result.model, beats[[index for _, index in picks]])
    figure = _figure(4.0 * per_class, 6.0)
    grid = figure.subplots(2, per_class, sharex=True, sharey=True, squeeze=False)
    for axes, (label, index), output in zip(grid.ravel(), picks, reconstructed, strict=False):
        colour = NORMAL_COLOUR if label == "normal" else ABNORMAL_COLOUR
        samples = np.arange(len(output))
        axes.plot(samples, beats[index], color=colour, label="input")
        axes.plot(samples, output, color="black", linestyle="--", label="reconstruction")
        axes.fill_between(samples, beats[index], output, color=colour, alpha=0.25, label="error")
        error = float(result.test_errors[index])
        verdict = "abnormal" if error > result.threshold else "normal"
        axes.set_title(f"{label} beat: MAE {error:.4f} -> {verdict}", fontsize=9)
    grid[0, 0].legend(fontsize=8)
    for axes in grid[-1]:
        axes.set_xlabel("sample")
    for axes in grid[:, 0]:
        axes.set_ylabel("normalised amplitude")
    return _save(figure, path)


def save_report_plots(result: TrainingResult, roc_auc: float, directory: Path) -> list[Path]:
    split = result.split
    return [
        plot_loss(result.history, result.best_epoch, directory / LOSS_PNG),
        plot_error_histogram(
            result.test_errors, split.test_is_normal, result.threshold, directory / HISTOGRAM_PNG
        ),
        plot_roc(result.test_errors, ~split.test_is_normal, roc_auc, directory / ROC_PNG),
        plot_reconstructions(result, directory / RECONSTRUCTIONS_PNG),
    ]
