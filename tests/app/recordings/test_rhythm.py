"""The timing rule on record 100's own annotated beats: premature beats stand out of the rhythm."""

from __future__ import annotations

import numpy as np

from app.recordings.rhythm import calibrate_rhythm, prematurity, timing_score
from tests.app.conftest import Record100


def test_prematurity_is_the_rr_interval_over_the_local_rhythm() -> None:
    peaks = np.array([0, 100, 200, 300, 360, 500, 600])  # the fifth beat comes 40 samples early
    ratios = prematurity(peaks, local_beats=3)
    assert np.isnan(ratios[:2]).all()
    assert ratios[4] == 0.6 and ratios[3] == 1.0


def test_rhythm_calibrated_without_labels_separates_premature_beats(record_100: Record100) -> None:
    samples = record_100.beat_samples
    symbols = np.array(record_100.beat_symbols)
    baseline = samples < 5 * 60 * 360
    rule = calibrate_rhythm([samples[baseline]])
    assert 0.8 < rule.premature_below < 0.95
    # judged on the other 25 minutes: the premature atrial and ventricular beats are early
    ratios = prematurity(samples, rule.local_beats)[~baseline]
    premature = np.array([timing_score(r, rule.premature_below) > 1 for r in ratios])
    judged = symbols[~baseline]
    assert premature[judged != "N"].mean() >= 0.9
    assert premature[judged == "N"].mean() <= 0.01
