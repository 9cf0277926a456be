"""`ecg-train`: train the autoencoder on a data file, evaluate it, and write the model directory.

TensorFlow is imported only after the arguments are parsed, so `--help` and usage errors are fast.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from training.atomic import ExportError, check_replaceable
from training.config import ModelConfig, TrainConfig
from training.data import (
    CACHE_DIR_ENV,
    DATA_SET_NAME,
    DEFAULT_URL,
    DataError,
    Dataset,
    load_data_arg,
)

EXIT_FAILURE = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already reported
        return int(exc.code or 0)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    model, train = ModelConfig(), TrainConfig()
    parser = argparse.ArgumentParser(
        prog="ecg-train",
        description=(
            "Train the ECG autoencoder on normal beats, evaluate it on the held-out test rows of "
            "the reference split, and write the model directory the service loads."
        ),
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add(
        "--data",
        required=True,
        metavar="PATH|ecg5000",
        help=f"a data file (comma-separated, label last 0/1; or UCR text, label first 1-5), or "
        f"{DATA_SET_NAME!r} to download {DEFAULT_URL} once into the cache "
        f"(~/.cache/ecg-anomaly, or ${CACHE_DIR_ENV})",
    )
    add(
        "--output",
        required=True,
        type=Path,
        metavar="DIR",
        help="model directory to write; an existing model directory there is replaced atomically",
    )
    add(
        "--epochs",
        type=_positive_int,
        default=train.epochs,
        help="maximum training epochs (early stopping usually ends sooner)",
    )
    add("--batch-size", type=_positive_int, default=train.batch_size, help="training batch size")
    add(
        "--seed",
        type=int,
        default=train.seed,
        help="seed for weights, shuffling and the validation slice (the test split is fixed)",
    )
    add(
        "--threshold-k",
        type=_non_negative_float,
        default=train.threshold_k,
        help="threshold = mean + K * std of the training normal beats' reconstruction error",
    )
    add(
        "--hidden-units",
        type=_units,
        default=",".join(map(str, model.hidden_units)),
        metavar="N,N,...",
        help="encoder layer sizes, the last one the bottleneck; the decoder mirrors them",
    )
    add("--activation", default=model.activation, help="activation of the hidden layers")
    add(
        "--dropout",
        type=_fraction,
        default=model.dropout,
        help="dropout rate after every hidden layer (0: none)",
    )
    add(
        "--input-noise",
        type=_non_negative_float,
        default=model.input_noise,
        help="std of Gaussian noise added to the normalised input while training (0: none)",
    )
    add(
        "--learning-rate",
        type=_positive_float,
        default=model.learning_rate,
        help="Adam learning rate",
    )
    add(
        "--validation-fraction",
        type=_fraction,
        default=train.validation_fraction,
        help="fraction of the normal training beats held out for early stopping (0: none)",
    )
    add(
        "--patience",
        type=_positive_int,
        default=train.patience,
        help="epochs without a better validation loss before training stops",
    )
    add("--quiet", action="store_true", help="no per-epoch progress lines")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        model=ModelConfig(
            hidden_units=args.hidden_units,
            activation=args.activation,
            dropout=args.dropout,
            input_noise=args.input_noise,
            learning_rate=args.learning_rate,
        ),
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        threshold_k=args.threshold_k,
        validation_fraction=args.validation_fraction,
        patience=args.patience,
    )


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        check_replaceable(args.output)
        dataset = load_data_arg(args.data)
    except (DataError, ExportError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except OSError as exc:  # e.g. the cache directory is not writable
        return _fail(_describe(exc, args.data), EXIT_FAILURE)
    _say(
        f"data: {dataset.source} ({dataset.n_rows} rows, {dataset.layout} layout, "
        f"sha256 {dataset.sha256[:12]}...)"
    )
    return train_and_export(dataset, args, started)


def train_and_export(dataset: Dataset, args: argparse.Namespace, started: float) -> int:
    # Imported here: TensorFlow loads only once the arguments, data and output path are good.
    from training.evaluate import evaluate, format_metrics
    from training.export import export_model
    from training.train import TrainingError, train

    try:
        result = train(dataset, config_from_args(args), log=None if args.quiet else _say)
        metrics = evaluate(result.test_errors, ~result.split.test_is_normal, result.threshold)
        metadata = export_model(result, metrics, args.output)
    except (TrainingError, ExportError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except OSError as exc:  # e.g. the output directory is not writable
        return _fail(_describe(exc, args.output), EXIT_FAILURE)
    _say(format_metrics(metrics, result.threshold))
    _say(
        f"trained {result.epochs_run} epochs (kept epoch {result.best_epoch}) in "
        f"{result.seconds:.1f}s; {time.perf_counter() - started:.1f}s in all"
    )
    _say(f"model {metadata.model_version} written to {args.output}")
    return 0


def _describe(exc: OSError, fallback: object) -> str:
    return f"{exc.filename or fallback}: {exc.strerror or exc}"


def _fail(message: str, code: int) -> int:
    print(f"ecg-train: error: {message}", file=sys.stderr)
    return code


def _say(line: str) -> None:
    print(line, flush=True)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def _units(text: str) -> tuple[int, ...]:
    try:
        units = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 32,16,8, got {text!r}") from None
    if any(unit <= 0 for unit in units):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return units


if __name__ == "__main__":
    raise SystemExit(main())
