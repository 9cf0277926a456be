"""The autoencoder families `ecg-train --architecture` builds, all from normalised beats in [0, 1]
to reconstructions in [0, 1] (a sigmoid output), so every one exports to the same ONNX contract
(`beats` in, reconstructions out) and the service scores them alike, by reconstruction MAE.

- dense: encoder `hidden_units`, mirrored decoder (the tutorial's autoencoder).
- denoising: the dense one fitted on beats corrupted with Gaussian noise (`input_noise`).
- sparse: the dense one with an L1 penalty on its code (`sparsity_l1`).
- conv: Conv1D encoder (`conv_filters`, stride 2 each), a dense bottleneck of `code_size`, and a
  transposed-convolution decoder: without the bottleneck it learns the identity.
- vae: a variational autoencoder; the encoder gives a mean and log-variance of a `hidden_units[-1]`
  code, fitted on reconstruction MAE + `kl_weight` * KL divergence. Served by reconstructing the
  code's mean (deterministic), so it is scored by reconstruction error like the others.
- contractive: the dense one with `contractive_weight` * the squared Frobenius norm of the code's
  Jacobian with respect to the input added to its loss.
- lstm: a recurrent sequence autoencoder: the beat read as steps of `lstm_step` samples by an LSTM
  of `lstm_units`, its last state repeated and decoded by a second LSTM.

Families whose penalty needs more than a layer (vae, contractive) train through `PenalisedTrainer`,
whose `train_step` adds the penalty; what is saved and exported is the plain inference network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import tensorflow as tf

from training.config import ModelConfig

INPUT_NAME = "beats"
OUTPUT_NAME = "reconstruction"


def build_family(input_length: int, config: ModelConfig) -> keras.Model:
    """A compiled model to `fit`; `inference_network` of it is what gets exported."""
    builders: dict[str, Callable[[int, ModelConfig], keras.Model]] = {
        "dense": _dense,
        "denoising": _dense,
        "sparse": _dense,
        "contractive": _contractive,
        "conv": _conv,
        "vae": _vae,
        "lstm": _lstm,
    }
    model = builders[config.architecture](input_length, config)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="mae")
    return model


def inference_network(model: keras.Model) -> keras.Model:
    """The functional network that maps beats to reconstructions (a trainer's inner network)."""
    return model.network if isinstance(model, PenalisedTrainer) else model


def _dense(input_length: int, config: ModelConfig) -> keras.Model:
    inputs, x = _inputs(input_length, config)
    code = _dense_encoder(x, config)
    if config.architecture == "sparse":
        code = keras.layers.ActivityRegularization(l1=config.sparsity_l1, name="sparsity")(code)
    return _named(inputs, _dense_decoder(code, input_length, config))


def _inputs(input_length: int, config: ModelConfig) -> tuple[keras.KerasTensor, Any]:
    """The input, with training-time Gaussian noise when the config asks for it."""
    inputs = keras.Input(shape=(input_length,), name=INPUT_NAME)
    noise = config.effective_input_noise
    x = keras.layers.GaussianNoise(noise, name="input_noise")(inputs) if noise else inputs
    return inputs, x


def _dense_stack(x: Any, units: list[int], role: str, config: ModelConfig) -> Any:
    for index, width in enumerate(units, start=1):
        x = keras.layers.Dense(width, activation=config.activation, name=f"{role}_{index}")(x)
        if config.dropout:
            x = keras.layers.Dropout(config.dropout, name=f"{role}_{index}_dropout")(x)
    return x


def _dense_encoder(x: Any, config: ModelConfig) -> Any:
    return _dense_stack(x, list(config.hidden_units), "encoder", config)


def _dense_decoder(code: Any, input_length: int, config: ModelConfig) -> Any:
    x = _dense_stack(code, list(reversed(config.hidden_units[:-1])), "decoder", config)
    return keras.layers.Dense(input_length, activation="sigmoid", name=OUTPUT_NAME)(x)


def _named(inputs: Any, outputs: Any) -> keras.Model:
    return keras.Model(inputs, outputs, name="ecg_autoencoder")


def _conv(input_length: int, config: ModelConfig) -> keras.Model:
    filters = list(config.conv_filters)
    if input_length % 2 ** len(filters):
        raise ValueError(
            f"conv: the input length {input_length} must divide by 2^{len(filters)} "
            f"(one stride-2 layer per --conv-filters entry)"
        )
    inputs, x = _inputs(input_length, config)
    x = keras.layers.Reshape((input_length, 1))(x)
    for index, width in enumerate(filters, start=1):
        x = keras.layers.Conv1D(
            width, config.kernel_size, strides=2, padding="same", activation="relu",
            name=f"encoder_conv_{index}",
        )(x)  # fmt: skip
    steps = input_length // 2 ** len(filters)
    x = keras.layers.Flatten()(x)
    code = keras.layers.Dense(config.code_size, activation="relu", name="code")(x)
    x = keras.layers.Dense(steps * filters[-1], activation="relu", name="decoder_dense")(code)
    x = keras.layers.Reshape((steps, filters[-1]))(x)
    for index, width in enumerate(reversed(filters), start=1):
        x = keras.layers.Conv1DTranspose(
            width, config.kernel_size, strides=2, padding="same", activation="relu",
            name=f"decoder_deconv_{index}",
        )(x)  # fmt: skip
    x = keras.layers.Conv1D(1, config.kernel_size, padding="same", activation="sigmoid")(x)
    return _named(inputs, keras.layers.Reshape((input_length,), name=OUTPUT_NAME)(x))


def _lstm(input_length: int, config: ModelConfig) -> keras.Model:
    step = config.lstm_step
    if input_length % step:
        raise ValueError(f"lstm: the input length {input_length} must divide by --lstm-step {step}")
    steps = input_length // step
    inputs, x = _inputs(input_length, config)
    x = keras.layers.Reshape((steps, step))(x)
    code = keras.layers.LSTM(config.lstm_units, name="encoder_lstm")(x)
    x = keras.layers.RepeatVector(steps)(code)
    x = keras.layers.LSTM(config.lstm_units, return_sequences=True, name="decoder_lstm")(x)
    x = keras.layers.TimeDistributed(keras.layers.Dense(step, activation="sigmoid"))(x)
    return _named(inputs, keras.layers.Reshape((input_length,), name=OUTPUT_NAME)(x))


class PenalisedTrainer(keras.Model):  # type: ignore[misc]
    """Fits `network` (beats -> reconstructions) on its MAE plus a penalty of the family's.

    `penalty(x, training_output)` returns (reconstruction, penalty) for a batch; evaluation and
    inference call `network` alone, so validation loss and exported model are plain MAE / network.
    """

    def __init__(
        self,
        network: keras.Model,
        penalty: Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]],
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.network = network
        self._penalty = penalty
        self.penalty_tracker = keras.metrics.Mean(name="penalty")

    def call(self, inputs: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.network(inputs, training=training)

    def train_step(self, data: Any) -> dict[str, Any]:
        """Keras's own step (TensorFlow backend) with the penalty added to the loss it minimises;
        the logged `loss` stays the reconstruction MAE, comparable across families."""
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            reconstruction, penalty = self._penalty(x)
            loss = self.compute_loss(x=x, y=y, y_pred=reconstruction, sample_weight=sample_weight)
            total = loss + penalty
        gradients = tape.gradient(total, self.trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, self.trainable_weights, strict=True))
        self._loss_tracker.update_state(loss, sample_weight=tf.shape(x)[0])
        self.penalty_tracker.update_state(penalty)
        logs: dict[str, Any] = self.compute_metrics(x, y, reconstruction, sample_weight)
        return {**logs, "penalty": self.penalty_tracker.result()}


def _contractive(input_length: int, config: ModelConfig) -> keras.Model:
    inputs, x = _inputs(input_length, config)
    encoder = keras.Model(inputs, _dense_encoder(x, config), name="encoder")
    code_in = keras.Input(shape=(config.hidden_units[-1],))
    decoder = keras.Model(code_in, _dense_decoder(code_in, input_length, config), name="decoder")
    beats = keras.Input(shape=(input_length,), name=INPUT_NAME)
    network = _named(beats, decoder(encoder(beats)))

    def penalty(batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(batch)
            code = encoder(batch, training=True)
        jacobian = tape.batch_jacobian(code, batch)  # (batch, code, samples)
        frobenius = tf.reduce_mean(tf.reduce_sum(tf.square(jacobian), axis=[1, 2]))
        return decoder(code, training=True), config.contractive_weight * frobenius

    return PenalisedTrainer(network, penalty, name="contractive_trainer")


def _vae(input_length: int, config: ModelConfig) -> keras.Model:
    inputs, x = _inputs(input_length, config)
    hidden = _dense_stack(x, list(config.hidden_units[:-1]), "encoder", config)
    latent = config.hidden_units[-1]
    z_mean = keras.layers.Dense(latent, name="z_mean")(hidden)
    z_log_var = keras.layers.Dense(latent, name="z_log_var")(hidden)
    encoder = keras.Model(inputs, [z_mean, z_log_var], name="encoder")
    code_in = keras.Input(shape=(latent,))
    decoder = keras.Model(code_in, _dense_decoder(code_in, input_length, config), name="decoder")
    beats = keras.Input(shape=(input_length,), name=INPUT_NAME)
    network = _named(beats, decoder(encoder(beats)[0]))  # served: the code's mean, no sampling
    seed = keras.random.SeedGenerator(config.vae_sampling_seed)

    def penalty(batch: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        mean, log_var = encoder(batch, training=True)
        noise = keras.random.normal(tf.shape(mean), seed=seed)
        reconstruction = decoder(mean + tf.exp(0.5 * log_var) * noise, training=True)
        kl = -0.5 * tf.reduce_sum(1 + log_var - tf.square(mean) - tf.exp(log_var), axis=1)
        return reconstruction, config.kl_weight * tf.reduce_mean(kl)

    return PenalisedTrainer(network, penalty, name="vae_trainer")
