"""The dense autoencoder: an encoder, its mirrored decoder, and a sigmoid output.

Inputs are min-max normalised beats in [0, 1], so the output layer is a sigmoid of the same width.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from training.config import ModelConfig

INPUT_NAME = "beats"


def build_autoencoder(
    input_length: int,
    hidden_units: Sequence[int],
    *,
    activation: str = "relu",
    dropout: float = 0.0,
    input_noise: float = 0.0,
    learning_rate: float = 1e-3,
) -> keras.Model:
    """Encoder `hidden_units` (e.g. 32-16-8), decoder the same minus the bottleneck, reversed.

    `input_noise` is the std of Gaussian noise added to the input while training only (a
    denoising autoencoder); `dropout` follows every hidden layer. Both are off when 0.
    """
    if not hidden_units or any(units <= 0 for units in hidden_units):
        raise ValueError(f"hidden_units must be positive layer sizes, got {list(hidden_units)}")
    inputs = keras.Input(shape=(input_length,), name=INPUT_NAME)
    x = (
        keras.layers.GaussianNoise(input_noise, name="input_noise")(inputs)
        if input_noise
        else inputs
    )
    decoder_units = list(reversed(hidden_units[:-1]))
    for role, layer_units in (("encoder", hidden_units), ("decoder", decoder_units)):
        for index, units in enumerate(layer_units, start=1):
            x = keras.layers.Dense(units, activation=activation, name=f"{role}_{index}")(x)
            if dropout:
                x = keras.layers.Dropout(dropout, name=f"{role}_{index}_dropout")(x)
    outputs = keras.layers.Dense(input_length, activation="sigmoid", name="reconstruction")(x)
    model = keras.Model(inputs, outputs, name="ecg_autoencoder")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mae")
    return model


def average_of(members: Sequence[keras.Model], input_length: int) -> keras.Model:
    """One model whose reconstruction is the mean of the members' (a single member: itself).

    Each member is wrapped as `member_1`, `member_2`, ... (same layers and weights) so the
    members' names stay distinct inside the ensemble.
    """
    if len(members) == 1:
        return members[0]
    inputs = keras.Input(shape=(input_length,), name=INPUT_NAME)
    reconstructions = [
        keras.Model(member.input, member.output, name=f"member_{index}")(inputs)
        for index, member in enumerate(members, start=1)
    ]
    outputs = keras.layers.Average(name="reconstruction")(reconstructions)
    return keras.Model(inputs, outputs, name="ecg_autoencoder_ensemble")


def build_from_config(input_length: int, config: ModelConfig) -> keras.Model:
    return build_autoencoder(
        input_length,
        config.hidden_units,
        activation=config.activation,
        dropout=config.dropout,
        input_noise=config.input_noise,
        learning_rate=config.learning_rate,
    )
