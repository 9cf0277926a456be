"""The autoencoder the trainer fits (a family of `training.fitting.architectures`), and the
average of several: one network whose reconstruction is the mean of the members'.

Inputs are min-max normalised beats in [0, 1], so every family ends in a sigmoid of the same width.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from training.config import ModelConfig
from training.fitting.architectures import INPUT_NAME, build_family, inference_network


def build_autoencoder(
    input_length: int,
    hidden_units: Sequence[int],
    *,
    activation: str = "relu",
    dropout: float = 0.0,
    input_noise: float = 0.0,
    learning_rate: float = 1e-3,
) -> keras.Model:
    """The dense family: encoder `hidden_units` (e.g. 32-16-8), decoder the same minus the
    bottleneck, reversed.

    `input_noise` is the std of Gaussian noise added to the input while training only (a
    denoising autoencoder); `dropout` follows every hidden layer. Both are off when 0.
    """
    if not hidden_units or any(units <= 0 for units in hidden_units):
        raise ValueError(f"hidden_units must be positive layer sizes, got {list(hidden_units)}")
    config = ModelConfig(
        architecture="dense",
        hidden_units=tuple(hidden_units),
        activation=activation,
        dropout=dropout,
        input_noise=input_noise,
        learning_rate=learning_rate,
    )
    return build_family(input_length, config)


def average_of(members: Sequence[keras.Model], input_length: int) -> keras.Model:
    """One model whose reconstruction is the mean of the members' (a single member: itself).

    Each member's inference network is wrapped as `member_1`, `member_2`, ... (same layers and
    weights) so the members' names stay distinct inside the ensemble; members may be of different
    families.
    """
    networks = [inference_network(member) for member in members]
    if len(networks) == 1:
        return networks[0]
    inputs = keras.Input(shape=(input_length,), name=INPUT_NAME)
    reconstructions = [
        keras.Model(network.input, network.output, name=f"member_{index}")(inputs)
        for index, network in enumerate(networks, start=1)
    ]
    outputs = keras.layers.Average(name="reconstruction")(reconstructions)
    return keras.Model(inputs, outputs, name="ecg_autoencoder_ensemble")


def build_from_config(input_length: int, config: ModelConfig) -> keras.Model:
    """The model to fit; its `training.fitting.architectures.inference_network` is what is
    served."""
    return build_family(input_length, config)
