"""The recording path on a strip of ECG5000's held-out beats: do the beats come back with the
verdicts they had when scored as rows?

    python -m bench.strip [--data ../shared/data/ecg5000/ecg5000.csv] [--model-dir DIR]

The reference split's 1,000 test beats are joined into one 250 Hz strip (each beat resampled to
0.76 to 0.9 s, seeded), then found, cut, aligned and scored by `app.recordings.analysis`, as
`POST /v1/recordings` does. Printed: accuracy and ROC AUC of the beats found against their
labels, beside the same beats scored directly as rows, and detection against the true QRS.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from app.config import SHIPPED_MODEL_DIR
from app.inference.scoring import load_scorer, operating_point
from app.recordings.analysis import analyse_recording
from app.recordings.signal import Recording
from bench.run import REPO_ROOT

STRIP_RATE = 250


def joined_strip(beats: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(strip, first sample of each beat, samples per beat)."""
    lengths = np.random.default_rng(seed).integers(190, 225, len(beats))
    pieces = [np.interp(np.arange(n) * beats.shape[1] / n, np.arange(beats.shape[1]), beat)
              for beat, n in zip(beats, lengths, strict=True)]  # fmt: skip
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.concatenate(pieces), starts, lengths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.strip", description=__doc__)
    parser.add_argument(
        "--data", type=Path, default=REPO_ROOT / "../shared/data/ecg5000/ecg5000.csv"
    )
    parser.add_argument("--model-dir", type=Path, default=SHIPPED_MODEL_DIR)
    args = parser.parse_args(argv)
    table = np.loadtxt(args.data, delimiter=",")
    _, beats, _, labels = train_test_split(
        table[:, :-1], table[:, -1], test_size=0.2, random_state=21
    )
    is_abnormal = labels == 0
    scorer = load_scorer(args.model_dir)
    point = operating_point(scorer.metadata)
    direct = scorer.score(beats).errors
    strip, starts, lengths = joined_strip(beats)
    recording = Recording(strip[:, None], STRIP_RATE, ["ECG"], "json")
    started = time.perf_counter()
    analysis = analyse_recording(recording, 0, scorer, point)
    seconds = time.perf_counter() - started
    scored = [row for row in analysis.rows if row.reconstruction_error is not None]
    qrs = starts + scorer.metadata.beat_window.r_peak_position * lengths
    found = np.array([row.time_s * STRIP_RATE for row in scored])
    nearest = np.abs(found[:, None] - qrs[None, :]).argmin(axis=1)
    errors = np.array([row.reconstruction_error for row in scored])
    truth = is_abnormal[nearest]
    print(f"strip: {len(strip) / STRIP_RATE / 60:.1f} min at {STRIP_RATE} Hz, {len(beats)} beats; "
          f"analysed in {seconds:.2f} s")  # fmt: skip
    print(f"beats found: {len(analysis.rows)}, scored: {len(scored)}, "
          f"distinct true beats among them: {len(set(nearest.tolist()))}")  # fmt: skip
    print(f"found in the strip:  accuracy {np.mean((errors > point.threshold) == truth):.4f}, "
          f"ROC AUC {roc_auc_score(truth, errors):.4f}")  # fmt: skip
    direct_accuracy = np.mean((direct > point.threshold) == is_abnormal)
    print(f"scored as rows:      accuracy {direct_accuracy:.4f}, "
          f"ROC AUC {roc_auc_score(is_abnormal, direct):.4f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
