"""`--candidates N`: each autoencoder is the best of N fitted from different seeds, by how well
its errors separate the training part's abnormal beats from its normal ones."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from app.inference.artifact import read_metadata
from training.artifacts.export import export_model
from training.config import ModelConfig, TrainConfig
from training.data.sources import Dataset, load_beats
from training.fitting.train import TrainingResult, train

# The first 600 rows of ECG5000, small networks and few epochs: the candidates differ enough to
# be told apart in a few seconds each.
N_ROWS = 600
QUICK = TrainConfig(
    ModelConfig(ensemble_size=1, hidden_units=(32, 16, 8), learning_rate=3e-3),
    epochs=8, batch_size=64, patience=5, trim_fraction=0.0, max_shift=2.0, seed=3,
    candidates=1,
)  # fmt: skip


@pytest.fixture(scope="module")
def real_rows(ecg_csv: Path) -> Dataset:
    dataset = load_beats(ecg_csv)
    return replace(dataset, beats=dataset.beats[:N_ROWS], is_normal=dataset.is_normal[:N_ROWS])


@pytest.fixture(scope="module")
def chosen(real_rows: Dataset) -> TrainingResult:
    return train(real_rows, replace(QUICK, candidates=3))


def training_part_roc_auc(result: TrainingResult) -> float:
    split = result.split
    return float(roc_auc_score(~split.train_is_normal, result.errors(split.train_beats)))


def test_the_kept_autoencoder_is_the_candidate_that_separates_the_training_part_best(
    chosen: TrainingResult,
) -> None:
    (member,) = chosen.members
    assert member.candidate_seeds == (3, 1003, 2003)
    assert len(set(member.candidate_roc_aucs)) == 3  # the seeds gave different networks
    best = int(np.argmax(member.candidate_roc_aucs))
    assert member.seed == member.candidate_seeds[best]
    assert training_part_roc_auc(chosen) == pytest.approx(max(member.candidate_roc_aucs), abs=1e-6)


def test_the_first_candidate_is_the_autoencoder_trained_without_a_choice(
    chosen: TrainingResult, real_rows: Dataset
) -> None:
    unchosen = train(real_rows, QUICK)
    assert unchosen.members[0].seed == 3
    first = chosen.members[0].candidate_roc_aucs[0]
    assert training_part_roc_auc(unchosen) == pytest.approx(first, abs=1e-6)


def test_metadata_records_every_candidate_and_the_one_kept(
    chosen: TrainingResult, tmp_path: Path
) -> None:
    export_model(chosen, tmp_path / "model")
    hyperparameters = read_metadata(tmp_path / "model").training.hyperparameters
    member = chosen.members[0]
    assert hyperparameters["candidates"] == 3
    assert hyperparameters["candidate_seeds"] == [3, 1003, 2003]
    assert hyperparameters["candidate_roc_aucs"] == pytest.approx(list(member.candidate_roc_aucs))
    assert hyperparameters["member_seeds"] == [member.seed]
