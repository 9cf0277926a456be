"""Step tolerance: a model fitted with baseline steps reconstructs beats that have one."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from app.inference.scoring import normalise
from training.config import ModelConfig, TrainConfig
from training.data.augment import baseline_steps
from training.data.sources import Dataset, load_beats
from training.fitting.train import TrainingResult, reconstruction_errors, train


def test_step_tolerant_model_reconstructs_held_out_beats_with_a_baseline_step(
    ecg_csv: Path,
) -> None:
    data = load_beats(ecg_csv)
    rows = np.arange(1500)  # a third of ECG5000 keeps the two fits quick
    dataset = Dataset(data.beats[rows], data.is_normal[rows], data.sha256, data.source, data.layout)
    config = TrainConfig(
        ModelConfig(ensemble_size=1),
        epochs=150,
        seed=7,
        candidates=1,
        step_fraction=0.3,
    )
    plain = train(dataset, replace(config, step_height=0.0))
    tolerant = train(dataset, replace(config, step_height=3.0))
    held_out = plain.split.test_beats[plain.split.test_is_normal]
    n = len(held_out)
    heights = np.random.default_rng(0).choice([-3.0, -2.0, 2.0, 3.0], n)
    stepped = baseline_steps(held_out, heights, np.full(n, 70))

    def stepped_to_plain_error_ratio(result: TrainingResult) -> float:
        def errors(beats: np.ndarray) -> np.ndarray:
            return reconstruction_errors(result.model, normalise(beats, result.normalisation))

        return float(np.median(errors(stepped)) / np.median(errors(held_out)))

    # on the real run it was 1.66 against 2.58: a fifth lower leaves room for other processors
    assert stepped_to_plain_error_ratio(tolerant) < 0.8 * stepped_to_plain_error_ratio(plain)
