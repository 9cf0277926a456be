"""Taking an exported model's threshold again, by another rule, without fitting its network again.

The network, normalisation, smoothing and alignment are the model directory's, and every beat is
scored through its ONNX model exactly as the service scores it. The threshold is chosen by the
protocol's own step (`training.fitting.train.take_threshold`) over the beats training took it
over: the training part's normal beats, each shifted by up to `threshold_shift` samples from the
model's own seed, or for a calibrated rule the training part's labelled beats. So a model moves
to a new threshold rule without a new network, which on another processor could not be fitted
again (README, "Choosing among candidates").
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from app.inference.artifact import (
    ArtifactError,
    Examples,
    ModelMetadata,
    ThresholdRule,
    TrainingErrors,
)
from app.inference.scoring import Scorer, load_scorer
from training.config import TrainConfig
from training.data.sources import Dataset
from training.data.split import Split, reference_split_description, split_reference
from training.fitting.train import TrainingError, examples_at, take_threshold


@dataclass(frozen=True)
class Rethresholded:
    """A model directory's network with its threshold taken again; `metadata` is the source's."""

    source: Path
    metadata: ModelMetadata
    scorer: Scorer
    config: TrainConfig  # the threshold options given, with the source's seed and slices
    split: Split
    threshold: float
    threshold_rule: ThresholdRule
    training_errors: TrainingErrors  # of the threshold's beats
    examples: Examples


def retake_threshold(source: Path, dataset: Dataset, options: TrainConfig) -> Rethresholded:
    """The threshold of the model in `source` by `options`' threshold rule, over the beats of
    `dataset` (the data the model was trained on) that training takes it over."""
    try:
        scorer = load_scorer(source)
    except ArtifactError as exc:
        raise TrainingError(f"--from-model: {exc}") from None
    metadata = scorer.metadata
    if metadata.metrics is None or metadata.rhythm is not None:
        raise TrainingError(
            f"--from-model: {source} is a recording baseline; fit it again with --recording"
        )
    config = source_config(metadata, options)
    check_same_data(metadata, dataset, config)
    split = split_reference(dataset, config.test_size, config.split_random_state)

    def errors_of(beats: np.ndarray) -> np.ndarray:
        return scorer.score(beats.astype(np.float32)).errors

    taken = take_threshold(errors_of, split, config)
    return Rethresholded(
        source=source,
        metadata=metadata,
        scorer=scorer,
        config=config,
        split=split,
        threshold=taken.threshold,
        threshold_rule=taken.rule,
        training_errors=taken.training_errors,
        examples=examples_at(taken.threshold, metadata.examples.normal, split, errors_of),
    )


def source_config(metadata: ModelMetadata, options: TrainConfig) -> TrainConfig:
    """`options` (the threshold rule) with the seed the source was trained with, so the
    threshold's shifts are the ones training would take."""
    return replace(options, seed=metadata.training.seed)


def check_same_data(metadata: ModelMetadata, dataset: Dataset, config: TrainConfig) -> None:
    """The threshold is only the source's if taken over its own training beats: the same file,
    split the same way."""
    training = metadata.training
    if dataset.sha256 != training.data_sha256:
        raise TrainingError(
            f"--from-model: the model was trained on {training.data_source} (sha256 "
            f"{training.data_sha256[:12]}...), not on {dataset.source} (sha256 "
            f"{dataset.sha256[:12]}...); give it the --data it was trained on"
        )
    if not training.split.startswith(reference_split_description(config)):
        raise TrainingError(
            f"--from-model: the model was trained on another split: {training.split}"
        )
