"""The report's PNG plots (Agg canvas, no pyplot: nothing is ever shown on screen).

Every plot takes arrays (errors, labels, thresholds, beats and their reconstructions), never a
model, so training and `ecg-evaluate` draw the same plots from whatever scored the beats.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import precision_recall_curve, roc_curve

from training.fitting.thresholds import OperatingPoint

LOSS_PNG = "loss.png"
HISTOGRAM_PNG = "error_histogram.png"
ROC_PNG = "roc.png"
PRECISION_RECALL_PNG = "precision_recall.png"
RECONSTRUCTIONS_PNG = "reconstructions.png"
# a fitted autoencoder's loss history ("loss", maybe "val_loss") and the epoch it kept
LossCurve = tuple[dict[str, list[float]], int]
NORMAL_COLOUR = "tab:blue"
ABNORMAL_COLOUR = "tab:red"


def _figure(width: float = 7.0, height: float = 4.5) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    figure.savefig(path, dpi=100, format="png", metadata={"Software": None})
    return path


def plot_loss(curves: Sequence[LossCurve], path: Path, trim_fraction: float = 0.0) -> Path:
    """Training and validation loss per epoch, and the epoch kept, for each fitted autoencoder."""
    figure = _figure()
    axes = figure.add_subplot()
    trimmed = f", the worst {100 * trim_fraction:g}% of beats weighted 0" if trim_fraction else ""
    if len(curves) == 1:
        _plot_one_loss(axes, *curves[0], trimmed)
    else:
        _plot_member_losses(axes, curves, trimmed)
    return _save(figure, path)


def _plot_one_loss(axes: Axes, history: dict[str, list[float]], best: int, trimmed: str) -> None:
    epochs = np.arange(1, len(history["loss"]) + 1)
    axes.plot(epochs, history["loss"], label=f"training loss (MAE{trimmed})")
    if "val_loss" in history:
        axes.plot(epochs, history["val_loss"], label="validation loss (held-out normal beats)")
    axes.axvline(best, color="grey", linestyle=":", label=f"kept weights (epoch {best})")
    axes.set(xlabel="epoch", ylabel="loss", title="Training and validation loss")
    axes.legend()


def _plot_member_losses(axes: Axes, curves: Sequence[LossCurve], trimmed: str) -> None:
    """One colour per autoencoder: training loss solid, validation dashed, kept epoch dotted."""
    for index, (history, best) in enumerate(curves, start=1):
        colour = f"C{index - 1}"
        epochs = np.arange(1, len(history["loss"]) + 1)
        label = f"autoencoder {index} (kept epoch {best})"
        axes.plot(epochs, history["loss"], color=colour, label=label)
        if "val_loss" in history:
            axes.plot(epochs, history["val_loss"], color=colour, linestyle="--")
        axes.axvline(best, color=colour, linestyle=":")
    axes.set(
        xlabel="epoch",
        ylabel="loss (MAE)",
        title="Training (solid) and validation (dashed) loss; kept epoch dotted",
    )
    axes.legend(title=f"training loss{trimmed}" if trimmed else None)


def plot_error_histogram(
    errors: np.ndarray,
    is_normal: np.ndarray,
    threshold: float,
    path: Path,
    subject: str = "the held-out test beats",
) -> Path:
    figure = _figure()
    axes = figure.add_subplot()
    bins = np.linspace(0.0, float(errors.max()), 60).tolist()
    axes.hist(errors[is_normal], bins=bins, alpha=0.6, color=NORMAL_COLOUR, label="normal")
    axes.hist(errors[~is_normal], bins=bins, alpha=0.6, color=ABNORMAL_COLOUR, label="abnormal")
    axes.axvline(threshold, color="black", linestyle="--", label=f"threshold {threshold:.4f}")
    axes.set(
        xlabel="reconstruction error (MAE)",
        ylabel="beats",
        title=f"Reconstruction error of {subject}",
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


def plot_precision_recall(
    errors: np.ndarray,
    is_abnormal: np.ndarray,
    marked: list[tuple[str, OperatingPoint]],
    path: Path,
) -> Path:
    """The precision-recall curve of the error as a score, with labelled operating points.

    The first of `marked` (the chosen threshold) is drawn as a large star, so that it shows
    even when another marked point coincides with it.
    """
    precision, recall, _ = precision_recall_curve(is_abnormal, errors)
    figure = _figure(5.5, 5.0)
    axes = figure.add_subplot()
    axes.plot(recall, precision, label="autoencoder")
    for index, ((label, point), marker) in enumerate(zip(marked, "*osD^v", strict=False)):
        axes.plot(
            point.recall,
            point.precision,
            marker=marker,
            markersize=16 if index == 0 else 7,
            zorder=3 if index else 2,  # the first point is drawn largest, under the others
            linestyle="none",
            label=f"{label} ({point.threshold:.4f})",
        )
    axes.set(
        xlabel="recall (abnormal detected)",
        ylabel="precision (flagged beats that are abnormal)",
        title="Precision-recall of the reconstruction error",
        xlim=(0, 1.02),
        ylim=(0, 1.02),
    )
    axes.legend(loc="lower left")
    return _save(figure, path)


def plot_reconstructions(
    beats: np.ndarray,
    reconstructions: np.ndarray,
    errors: np.ndarray,
    is_normal: np.ndarray,
    threshold: float,
    path: Path,
    per_class: int = 3,
) -> Path:
    """The first `per_class` normal and abnormal beats and their reconstructions, error shaded.

    `beats` and `reconstructions` are in normalised units, as the model sees them.
    """
    picks = [
        (label, index)
        for label, mask in (("normal", is_normal), ("abnormal", ~is_normal))
        for index in np.flatnonzero(mask)[:per_class]
    ]
    figure = _figure(4.0 * per_class, 6.0)
    grid = figure.subplots(2, per_class, sharex=True, sharey=True, squeeze=False)
    for axes, (label, index) in zip(grid.ravel(), picks, strict=False):
        colour = NORMAL_COLOUR if label == "normal" else ABNORMAL_COLOUR
        beat, output = beats[index], reconstructions[index]
        samples = np.arange(len(output))
        axes.plot(samples, beat, color=colour, label="input")
        axes.plot(samples, output, color="black", linestyle="--", label="reconstruction")
        axes.fill_between(samples, beat, output, color=colour, alpha=0.25, label="error")
        error = float(errors[index])
        verdict = "abnormal" if error > threshold else "normal"
        axes.set_title(f"{label} beat: MAE {error:.4f} -> {verdict}", fontsize=9)
    grid[0, 0].legend(fontsize=8)
    for axes in grid[-1]:
        axes.set_xlabel("sample")
    for axes in grid[:, 0]:
        axes.set_ylabel("normalised amplitude")
    return _save(figure, path)
