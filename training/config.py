"""Training settings and their defaults, in one place (light: no TensorFlow import).

To change the shipped architecture, edit the defaults of `ModelConfig` and retrain; the CLI's
options and `--help` pick the new defaults up from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ThresholdRuleName = Literal["mean-std", "percentile", "calibrated"]
CalibrationTarget = Literal["f1", "false-alarm-rate"]


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of the dense autoencoder (the decoder mirrors the encoder).

    With `ensemble_size` N > 1, N such autoencoders are fitted from different seeds and the model
    is their average: one dense network whose reconstruction is the mean of theirs. Three trimmed
    ones (`TrainConfig.trim_fraction`) keep the margin a single trimmed one loses: README,
    "Three trimmed autoencoders".
    """

    hidden_units: tuple[int, ...] = (128, 64, 32)
    activation: str = "relu"
    dropout: float = 0.0
    input_noise: float = 0.0
    learning_rate: float = 1e-3
    ensemble_size: int = 3


@dataclass(frozen=True)
class TrainConfig:
    """The reference protocol's fixed split plus the optimisation and threshold knobs.

    `threshold_rule` picks the rule; each of the four fields after it belongs to one rule only.
    """

    model: ModelConfig = field(default_factory=ModelConfig)
    epochs: int = 200
    batch_size: int = 64
    seed: int = 42
    threshold_rule: ThresholdRuleName = "mean-std"
    threshold_k: float = 1.0  # for "mean-std"
    threshold_percentile: float = 99.0  # for "percentile"
    calibrate_for: CalibrationTarget = "f1"  # for "calibrated"
    target_false_alarm_rate: float = 0.05  # for "calibrated" with calibrate_for "false-alarm-rate"
    validation_fraction: float = 0.1
    patience: int = 20
    # `training.trimming`: the worst-reconstructed fraction of the fitted beats gets weight 0 in
    # every epoch after the first `trim_warmup` (0: off).
    trim_fraction: float = 0.015
    trim_warmup: int = 10
    # TensorFlow's tutorial split; changing it makes results incomparable with the tutorial.
    test_size: float = 0.2
    split_random_state: int = 21
