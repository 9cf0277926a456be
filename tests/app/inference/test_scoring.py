"""Scoring without HTTP: normalisation, error, verdict; refusing models that cannot be served."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.signal import savgol_coeffs, savgol_filter

from app.inference.artifact import (
    METADATA_FILE,
    ONNX_FILE,
    Alignment,
    ArtifactError,
    MinMaxNormalisation,
    Smoothing,
)
from app.inference.scoring import (
    alignment_shifts,
    load_scorer,
    mean_absolute_error,
    normalise,
    operating_point,
    shift_beats,
    smooth,
)


def test_normalise_maps_stored_min_and_max_to_zero_and_one() -> None:
    norm = MinMaxNormalisation(min=-2.0, max=6.0)
    out = normalise(np.array([[-2.0, 2.0, 6.0]]), norm)
    np.testing.assert_allclose(out, [[0.0, 0.5, 1.0]])
    assert out.dtype == np.float32


def test_mean_absolute_error_is_per_beat() -> None:
    beats = np.array([[0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]], dtype=np.float32)
    recon = np.array([[0.0, 0.5, 0.0, -0.5], [1.0, 1.0, 1.0, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(mean_absolute_error(beats, recon), [0.25, 0.0])


def test_scorer_flags_beat_above_threshold_only(shipped_model_dir: Path) -> None:
    scorer = load_scorer(shipped_model_dir)
    examples = scorer.metadata.examples
    scores = scorer.score(np.array([examples.normal, examples.abnormal], dtype=np.float32))
    assert scores.errors[0] < scorer.threshold < scores.errors[1]
    assert scores.is_anomaly(scorer.threshold).tolist() == [False, True]
    assert scores.reconstructions.shape == (2, scorer.input_length)


def test_shipped_model_meets_the_tutorial_accuracy_in_process(
    shipped_model_dir: Path, reference_test_split: tuple[np.ndarray, np.ndarray]
) -> None:
    beats, is_abnormal = reference_test_split
    scorer = load_scorer(shipped_model_dir)
    flagged = scorer.score(beats).is_anomaly(scorer.threshold)
    assert np.mean(flagged == is_abnormal) >= 0.944


def test_a_beats_error_does_not_depend_on_the_batch_it_came_in(
    shipped_model_dir: Path, reference_test_split: tuple[np.ndarray, np.ndarray]
) -> None:
    beats = reference_test_split[0][:300]
    scorer = load_scorer(shipped_model_dir)
    whole = scorer.score(beats).errors
    in_pieces = np.concatenate([scorer.score(beats[i : i + 7]).errors for i in range(0, 300, 7)])
    one_by_one = np.array([scorer.score(beats[i : i + 1]).errors[0] for i in range(300)])
    assert whole.tolist() == in_pieces.tolist() == one_by_one.tolist()


def test_sample_errors_explain_the_beat_error(shipped_model_dir: Path) -> None:
    scorer = load_scorer(shipped_model_dir)
    scores = scorer.score(np.array([scorer.metadata.examples.abnormal], dtype=np.float32))
    np.testing.assert_allclose(scores.sample_errors().mean(axis=1), scores.errors, rtol=1e-5)


def test_operating_point_defaults_to_the_model_threshold(shipped_model_dir: Path) -> None:
    metadata = load_scorer(shipped_model_dir).metadata
    point = operating_point(metadata)
    assert point.threshold == metadata.threshold
    assert point.rule == metadata.threshold_rule.describe()


def test_operating_point_from_k_uses_the_training_error_statistics(
    shipped_model_dir: Path,
) -> None:
    metadata = load_scorer(shipped_model_dir).metadata
    point = operating_point(metadata, k=2.5)
    stats = metadata.training_errors
    assert point.threshold == pytest.approx(stats.mean + 2.5 * stats.std)
    assert "mean + 2.5 * std" in point.rule


def test_a_given_threshold_takes_precedence_over_k(shipped_model_dir: Path) -> None:
    metadata = load_scorer(shipped_model_dir).metadata
    point = operating_point(metadata, k=1.0, threshold=0.1)
    assert point.threshold == 0.1
    assert point.rule == "threshold given in the request (it takes precedence over k=1)"


def test_load_refuses_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="model directory not found"):
        load_scorer(tmp_path / "absent")


def test_load_refuses_missing_metadata(model_copy: Path) -> None:
    (model_copy / METADATA_FILE).unlink()
    with pytest.raises(ArtifactError, match=r"metadata\.json: missing"):
        load_scorer(model_copy)


def test_load_refuses_onnx_file_whose_checksum_differs(model_copy: Path) -> None:
    with (model_copy / ONNX_FILE).open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ArtifactError, match=r"model\.onnx: sha256 .* does not match"):
        load_scorer(model_copy)


def test_load_refuses_metadata_that_is_not_json(model_copy: Path) -> None:
    (model_copy / METADATA_FILE).write_text("{not json")
    with pytest.raises(ArtifactError, match=r"metadata\.json: invalid"):
        load_scorer(model_copy)


def test_load_refuses_input_length_that_disagrees_with_the_model(model_copy: Path) -> None:
    metadata = json.loads((model_copy / METADATA_FILE).read_text())
    metadata["input_length"] = 100
    for name in ("normal", "abnormal"):
        metadata["examples"][name] = metadata["examples"][name][:100]
    (model_copy / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(
        ArtifactError, match=r"model input has 140 samples per beat.*input_length 100"
    ):
        load_scorer(model_copy)


def test_load_refuses_threshold_that_is_not_finite(model_copy: Path) -> None:
    text = (model_copy / METADATA_FILE).read_text()
    metadata = json.loads(text)
    metadata["threshold"] = "NaN"
    (model_copy / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ArtifactError, match="invalid at threshold"):
        load_scorer(model_copy)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda m: m.pop("beat_window"), "beat_window"),
        (lambda m: m["beat_window"].update(r_peak_position=0.7), "beat_window.r_peak_position"),
        (lambda m: m["beat_window"].update(qrs_polarity="up"), "beat_window.qrs_polarity"),
        (lambda m: m.pop("provenance"), "provenance"),
    ],
    ids=["no-beat-window", "r-peak-past-half", "unknown-polarity", "no-provenance"],
)
def test_load_refuses_a_model_that_does_not_say_how_its_beats_were_cut(
    model_copy: Path, change: Any, where: str
) -> None:
    metadata = json.loads((model_copy / METADATA_FILE).read_text())
    change(metadata)
    (model_copy / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ArtifactError, match=f"invalid at {re.escape(where)}"):
        load_scorer(model_copy)


def test_shipped_model_describes_how_ecg5000_beats_were_cut(shipped_model_dir: Path) -> None:
    metadata = load_scorer(shipped_model_dir).metadata
    window, provenance = metadata.beat_window, metadata.provenance
    assert (window.method, window.qrs_polarity, window.per_beat_normalisation) == (
        "r_to_r",
        "negative",
        "z-score",
    )
    # ECG5000's QRS trough sits 3 to 4 samples into its 140
    assert 3 <= window.r_peak_position * (metadata.input_length - 1) <= 4
    assert provenance.dataset.startswith("ECG5000") and provenance.sampling_rate_hz == 250


def test_shipped_model_compares_beats_smoothed_as_its_metadata_says(
    shipped_model_dir: Path, reference_test_split: tuple[np.ndarray, np.ndarray]
) -> None:
    scorer = load_scorer(shipped_model_dir)
    smoothing = scorer.metadata.smoothing
    assert smoothing is not None and smoothing.window % 2 == 1
    beats = reference_test_split[0][:50]
    normalised = normalise(beats, scorer.metadata.normalisation)
    scores = scorer.score(beats)
    compared = smooth(normalised, smoothing)
    if scorer.metadata.alignment is not None:
        compared = shift_beats(compared, -scores.shifts)
    np.testing.assert_allclose(scores.normalised, compared, atol=1e-6)
    assert not np.allclose(scores.normalised, normalised, atol=1e-3)  # the noise is gone
    np.testing.assert_allclose(
        scores.errors, mean_absolute_error(scores.normalised, scorer.reconstruct(scores.normalised))
    )


def test_smoothing_keeps_a_straight_line_and_takes_out_alternating_noise() -> None:
    """Savitzky-Golay of order 2 passes lines (and parabolas) unchanged, but for half a window at
    each edge (extended by its nearest sample), and averages noise."""
    line = np.linspace(0, 1, 140, dtype=np.float32)[None, :]
    smoothing = Smoothing(
        window=13, polyorder=2, coefficients=savgol_coeffs(13, 2, use="dot").tolist()
    )
    np.testing.assert_allclose(smooth(line, smoothing)[:, 6:-6], line[:, 6:-6], atol=1e-6)
    noisy = line + np.float32(0.05) * (-1) ** np.arange(140, dtype=np.float32)
    assert np.abs(smooth(noisy, smoothing) - line)[:, 10:-10].max() < 0.01
    assert smooth(noisy, None) is noisy
    np.testing.assert_allclose(
        smooth(noisy, smoothing), savgol_filter(noisy, 13, 2, axis=1, mode="nearest"), atol=1e-6
    )


@pytest.mark.parametrize(
    ("smoothing", "message"),
    [
        ({"window": 12, "polyorder": 2}, "must be odd"),
        ({"window": 5, "polyorder": 5}, "above polyorder"),
        ({"window": 141, "polyorder": 2}, "longer than a beat"),
        ({"window": 13, "polyorder": 2, "coefficients": [1.0]}, "1 coefficients for a window"),
        ({"window": 3, "polyorder": 1, "coefficients": [0.5, 0.5, 0.5]}, "sum to 1.5"),
    ],
)
def test_load_refuses_smoothing_it_cannot_apply(
    model_copy: Path, smoothing: dict[str, Any], message: str
) -> None:
    metadata = json.loads((model_copy / METADATA_FILE).read_text())
    window = int(smoothing["window"])
    coefficients = [1 / window] * window  # a moving average, unless the case gives its own
    metadata["smoothing"] = {"method": "savitzky-golay", "coefficients": coefficients, **smoothing}
    (model_copy / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ArtifactError, match=message):
        load_scorer(model_copy)


def test_shift_beats_moves_each_beat_by_its_own_shift_and_wraps_it() -> None:
    beats = np.tile(np.arange(6, dtype=np.float32), (3, 1))
    moved = shift_beats(beats, np.array([1.0, -2.0, 0.5]))
    np.testing.assert_array_equal(moved[0], [5, 0, 1, 2, 3, 4])
    np.testing.assert_array_equal(moved[1], [2, 3, 4, 5, 0, 1])
    np.testing.assert_allclose(moved[2, 1:], [0.5, 1.5, 2.5, 3.5, 4.5])
    assert moved.dtype == np.float32


def test_alignment_finds_how_late_a_beat_came_and_moves_it_back() -> None:
    samples = np.arange(140)
    template = np.exp(-(((samples - 40) / 4.0) ** 2)).astype(np.float32)
    alignment = Alignment(max_shift=3.0, step=0.5, template=template.tolist())
    shifts = np.array([1.5, -2.0, 0.0, 3.0])
    late = shift_beats(np.tile(template, (4, 1)), shifts)
    np.testing.assert_allclose(alignment_shifts(late, alignment), shifts)
    np.testing.assert_array_equal(alignment_shifts(late, None), np.zeros(4))
    back = shift_beats(late, -alignment_shifts(late, alignment))
    assert np.abs(back - template).max() < 0.05  # twice interpolated at half a sample


def test_an_aligning_model_scores_a_beat_cut_late_as_the_beat_itself(
    aligned_model_dir: Path,
    shipped_model_dir: Path,
    reference_test_split: tuple[np.ndarray, np.ndarray],
) -> None:
    beats, is_abnormal = reference_test_split
    normal = beats[~is_abnormal][:50]
    late = shift_beats(normal, np.full(len(normal), 2.0))
    aligned, plain = load_scorer(aligned_model_dir), load_scorer(shipped_model_dir)
    on_time, cut_late = aligned.score(normal), aligned.score(late)
    assert np.median(cut_late.errors / on_time.errors) == pytest.approx(1.0, abs=0.03)
    assert np.median(plain.score(late).errors / plain.score(normal).errors) > 1.05
    assert np.median(cut_late.shifts - on_time.shifts) == pytest.approx(2.0, abs=0.5)


@pytest.mark.parametrize(
    ("alignment", "message"),
    [
        ({"template": [0.0] * 139}, "template has 139 samples"),
        ({"max_shift": 70.0}, "half a beat or more"),
        ({"max_shift": 1.0, "step": 2.0}, "larger than max_shift"),
        ({"step": 0.0}, "greater than 0"),
    ],
)
def test_load_refuses_alignment_it_cannot_apply(
    model_copy: Path, alignment: dict[str, Any], message: str
) -> None:
    metadata = json.loads((model_copy / METADATA_FILE).read_text())
    metadata["alignment"] = {"max_shift": 3.0, "step": 0.5, "template": [0.0] * 140, **alignment}
    (model_copy / METADATA_FILE).write_text(json.dumps(metadata))
    with pytest.raises(ArtifactError, match=message):
        load_scorer(model_copy)
