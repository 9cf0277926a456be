"""The recording path on a strip of ECG5000's held-out beats: do the beats come back with the
verdicts they had when scored as rows?

    python -m bench.strip [--data ../shared/data/ecg5000/ecg5000.csv] [--model-dir DIR]

The reference split's 1,000 test beats are joined into one 250 Hz strip (each beat resampled to
0.76 to 0.9 s, seeded), then found, cut, aligned and scored by `app.recordings.analysis`, as
`POST /v1/recordings` does. Printed: accuracy and ROC AUC of the beats found against their
labels, beside the same beats scored directly as rows, and detection against the true QRS
(`training.evaluation.strip`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

from app.config import SHIPPED_MODEL_DIR
from app.inference.scoring import load_scorer, operating_point
from bench.run import REPO_ROOT
from training.evaluation.strip import STRIP_RATE, score_strip


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
    strip = score_strip(beats, is_abnormal, scorer, point)
    print(f"strip: {strip.strip_seconds / 60:.1f} min at {STRIP_RATE} Hz, {len(beats)} beats; "
          f"analysed in {strip.analysis_seconds:.2f} s")  # fmt: skip
    print(f"beats found: {strip.n_found}, scored: {len(strip.errors)}, "
          f"distinct true beats among them: {strip.n_distinct}")  # fmt: skip
    print(f"found in the strip:  accuracy {strip.accuracy(point.threshold):.4f}, "
          f"ROC AUC {roc_auc_score(strip.is_abnormal, strip.errors):.4f}")  # fmt: skip
    direct_accuracy = np.mean((direct > point.threshold) == is_abnormal)
    print(f"scored as rows:      accuracy {direct_accuracy:.4f}, "
          f"ROC AUC {roc_auc_score(is_abnormal, direct):.4f}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
