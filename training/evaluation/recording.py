"""`ecg-evaluate --recording PATH --annotations atr --model DIR`: a model judged on a recording the
way the field reports it (no TensorFlow: the service's own scoring).

Beats found are matched with the annotated ones within 150 ms (sensitivity, positive
predictivity); each matched beat's verdict is counted by its annotated AAMI class, and the
anomaly score ranks normal beats against all others (ROC AUC). The stretch a baseline was fitted on
is left out of the judged part. Written to the output directory: `recording_report.json` and
`recording_roc.png`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from app.inference.scoring import Scorer, operating_point
from app.recordings.analysis import analyse_recording, baseline_stretch_of, timing_rule
from app.recordings.annotations import ReferenceMatch
from app.recordings.signal import Recording, choose_lead

REPORT_FILE, ROC_PNG = "recording_report.json", "recording_roc.png"


@dataclass(frozen=True)
class JudgedBeats:
    """The matched beats of the judged part: annotated class, verdict, scores."""

    classes: np.ndarray
    abnormal: np.ndarray
    anomaly_scores: np.ndarray
    shape_scores: np.ndarray


def evaluate_recording(
    recording: Recording,
    scorer: Scorer,
    lead: str | None,
    judge_from_s: float,
    with_timing: bool = True,
) -> dict[str, Any]:
    if recording.reference is None:
        raise ValueError("the recording has no annotation file to judge it against")
    point = operating_point(scorer.metadata)
    timing = timing_rule(scorer.metadata, None) if with_timing else None
    analysis = analyse_recording(recording, choose_lead(recording, lead), scorer, point, timing)
    match, detection = analysis.reference_match, analysis.comparison
    assert match is not None and detection is not None  # the recording has its annotations
    judge_from = round(judge_from_s * recording.sampling_rate)
    judged = _judged(analysis.rows, match, judge_from, point.threshold)
    return {
        "record": recording.name,
        "model_version": scorer.metadata.model_version,
        "rules": "shape and timing" if timing else "shape only",
        "judged_from_s": judge_from_s,
        "detection": {
            key: detection[key]
            for key in ("annotated_beats", "beats_found", "sensitivity", "positive_predictivity")
        },
        **_figures(judged),
    }


def _judged(
    rows: list[Any], match: ReferenceMatch, judge_from: int, threshold: float
) -> JudgedBeats:
    """The annotated beats from `judge_from` on that were found and scored."""
    kept = [
        (beat_class, rows[found])
        for beat_class, sample, found in zip(
            match.classes, match.samples.tolist(), match.found.tolist(), strict=True
        )
        if found >= 0 and sample >= judge_from and rows[found].verdict != "unscored"
    ]
    return JudgedBeats(
        classes=np.array([beat_class for beat_class, _ in kept]),
        abnormal=np.array([row.verdict == "abnormal" for _, row in kept]),
        anomaly_scores=np.array([row.anomaly_score for _, row in kept]),
        shape_scores=np.array([row.reconstruction_error / threshold for _, row in kept]),
    )


def _figures(judged: JudgedBeats) -> dict[str, Any]:
    normal = judged.classes == "N"
    by_class = {
        beat_class: {
            "beats": int(np.sum(judged.classes == beat_class)),
            "flagged": int(np.sum(judged.abnormal[judged.classes == beat_class])),
        }
        for beat_class in sorted(set(judged.classes.tolist()))
    }
    both = len(set(normal.tolist())) == 2
    return {
        "judged_beats": len(normal),
        "normal_flagged": float(judged.abnormal[normal].mean()) if normal.any() else None,
        "others_flagged": float(judged.abnormal[~normal].mean()) if (~normal).any() else None,
        "roc_auc": float(roc_auc_score(~normal, judged.anomaly_scores)) if both else None,
        "roc_auc_shape_only": float(roc_auc_score(~normal, judged.shape_scores)) if both else None,
        "by_class": by_class,
        "_roc": roc_curve(~normal, judged.anomaly_scores) if both else None,
    }


def format_table(report: dict[str, Any]) -> str:
    detection = report["detection"]
    lines = [
        f"record {report['record']}, model {report['model_version']} ({report['rules']}), "
        f"judged from {report['judged_from_s']:.0f} s",
        f"beat detection: sensitivity {detection['sensitivity']:.4f}, positive predictivity "
        f"{detection['positive_predictivity']:.4f} ({detection['beats_found']} found, "
        f"{detection['annotated_beats']} annotated)",
        "| AAMI class | beats | flagged | flagged share |",
        "| --- | ---: | ---: | ---: |",
    ]
    for beat_class, counts in report["by_class"].items():
        share = counts["flagged"] / counts["beats"] if counts["beats"] else 0.0
        lines.append(f"| {beat_class} | {counts['beats']} | {counts['flagged']} | {share:.3f} |")
    lines.append(
        f"normal beats flagged {report['normal_flagged']:.4f}, others flagged "
        f"{report['others_flagged']:.4f}; ROC AUC of normal against the rest "
        f"{report['roc_auc']:.4f} (shape alone {report['roc_auc_shape_only']:.4f})"
    )
    return "\n".join(lines)


def save_report(report: dict[str, Any], directory: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    directory.mkdir(parents=True, exist_ok=True)
    roc = report.pop("_roc")
    (directory / REPORT_FILE).write_text(json.dumps(report, indent=2) + "\n")
    if roc is None:
        return
    figure, axes = plt.subplots(figsize=(5, 5), dpi=100)
    axes.plot(roc[0], roc[1], label=f"ROC AUC {report['roc_auc']:.4f}")
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
    axes.set(xlabel="normal beats flagged", ylabel="other beats flagged",
             title=f"record {report['record']}: normal against the rest")  # fmt: skip
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(directory / ROC_PNG)
    plt.close(figure)


def judge_from_default(scorer: Scorer, recording: Recording) -> float:
    """After the stretch the model was fitted on, when it was fitted on this very record."""
    stretch = baseline_stretch_of(scorer.metadata, recording)
    return stretch[1] if stretch else 0.0
