"""The command-line options that make a `TrainConfig`, shared by `ecg-train` and `ecg-evaluate`.

Defaults come from `training.config`, so `--help` shows the current ones.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import cast, get_args

from training.config import (
    ARCHITECTURES,
    DEFAULT_DENOISING_NOISE,
    ArchitectureName,
    CalibrationTarget,
    ModelConfig,
    ThresholdRuleName,
    TrainConfig,
)


class DefaultsHelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, except where it has none to show (None: the help says what
    happens without the option)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def add_training_options(
    parser: argparse.ArgumentParser, *, with_seed: bool = True, title: str = "training"
) -> None:
    """The options `config_from_args` reads, in two groups (`title`, then "threshold rule").

    Without `with_seed` there is no --seed option: the caller sets a default `seed`.
    """
    model, train = ModelConfig(), TrainConfig()
    add = parser.add_argument_group(title).add_argument
    add(
        "--epochs",
        type=positive_int,
        default=train.epochs,
        help="maximum training epochs (early stopping may end sooner)",
    )
    add("--batch-size", type=positive_int, default=train.batch_size, help="training batch size")
    if with_seed:
        add(
            "--seed",
            type=int,
            default=train.seed,
            help="seed for weights, shuffling and the validation slice (the test split is fixed); "
            "autoencoder i of an ensemble is seeded with seed + 1000 * i",
        )
    add(
        "--max-shift",
        type=non_negative_float,
        default=train.max_shift,
        metavar="SAMPLES",
        help="shift tolerance: every epoch each fitted beat is moved by a random shift of up to "
        "this many recording samples (250 Hz, about 205 a beat) either way; 0: off",
    )
    add(
        "--step-height",
        type=non_negative_float,
        metavar="STDS",
        help="step tolerance: every epoch --step-fraction of the fitted beats get a baseline step "
        "of up to this many of their own standard deviations at a random place, and are brought "
        "back to their own mean and spread, as a beat normalised on its own looks after an "
        f"electrode moved (0: off; default {train.step_height:g}, for a recording baseline 0; see "
        "the README's Step tolerance)",
    )
    add(
        "--step-fraction",
        type=fraction,
        default=train.step_fraction,
        metavar="FRACTION",
        help="with --step-height, each fitted beat's chance of a step in each epoch (0: off)",
    )
    add(
        "--smoothing-window",
        type=smoothing_window,
        metavar="SAMPLES",
        help="score every beat through a Savitzky-Golay filter of this window (beat samples, odd; "
        f"0: off; default {train.smoothing_window}, for a recording baseline 0), so that noise on "
        "a beat is not taken for its shape; the autoencoder is fitted on the unsmoothed beats",
    )
    add(
        "--smoothing-polyorder",
        type=non_negative_int,
        default=train.smoothing_polyorder,
        help="the filter's polynomial order (below the window)",
    )
    add(
        "--align-max-shift",
        type=non_negative_float,
        default=train.align_max_shift,
        metavar="SAMPLES",
        help="score every beat moved back by the shift, up to this many recording samples either "
        "way, that best matches the mean training normal beat, so where a beat was cut does not "
        "decide its verdict (0: off, the default; see the README's Alignment)",
    )
    add(
        "--align-step",
        type=positive_float,
        default=train.align_step,
        metavar="SAMPLES",
        help="the step between the shifts tried, in recording samples",
    )
    add(
        "--learning-rate",
        type=positive_float,
        default=model.learning_rate,
        help="Adam learning rate",
    )
    add_architecture_options(parser)
    add(
        "--ensemble-size",
        type=positive_int,
        default=model.ensemble_size,
        metavar="N",
        help="autoencoders (of each family, for a mix) fitted from different seeds; the model "
        "averages their reconstructions",
    )
    add(
        "--candidates",
        type=positive_int,
        metavar="N",
        help="fit each autoencoder N times from different seeds and keep the one whose errors best "
        "separate the training part's normal beats from its abnormal ones (ROC AUC; the test "
        f"rows are never looked at), at N times the training time (default {train.candidates}; "
        "for a recording baseline, which has no labels to choose by, 1)",
    )
    add(
        "--validation-fraction",
        type=fraction,
        default=train.validation_fraction,
        help="fraction of the normal training beats held out for early stopping (0: none)",
    )
    add(
        "--patience",
        type=positive_int,
        default=train.patience,
        help="epochs without a better validation loss before training stops",
    )
    add(
        "--trim-fraction",
        type=fraction,
        default=train.trim_fraction,
        help="after the warm-up, each epoch gives weight 0 to this fraction of the fitted beats, "
        "the ones reconstructed worst (normal beats that look abnormal); 0: off",
    )
    add(
        "--trim-warmup",
        type=positive_int,
        default=train.trim_warmup,
        metavar="EPOCHS",
        help="epochs fitted on every beat before trimming starts",
    )
    add_threshold_options(parser)


def add_architecture_options(parser: argparse.ArgumentParser) -> None:
    """--architecture and each family's own few hyper-parameters
    (`training.fitting.architectures`)."""
    model = ModelConfig()
    add = parser.add_argument_group(
        "architecture",
        "The autoencoder family, and the options each family reads (the family names are in "
        "brackets). Every family is exported to ONNX and served the same way.",
    ).add_argument
    add(
        "--architecture",
        type=families,
        default=model.architecture,
        metavar="{" + ",".join(ARCHITECTURES) + "}[,...]",
        help="dense: the tutorial's autoencoder; denoising: dense, fitted on noisy beats; sparse: "
        "dense with an L1 penalty on the code; conv: Conv1D encoder, dense bottleneck, transposed "
        "convolutions; vae: variational (served by reconstructing the code's mean); contractive: "
        "dense with a penalty on the code's Jacobian; lstm: recurrent sequence autoencoder. "
        "Several, comma-separated (sparse,denoising): a mixed ensemble, --ensemble-size "
        "autoencoders of each",
    )
    add(
        "--hidden-units",
        type=units,
        default=",".join(map(str, model.hidden_units)),
        metavar="N,N,...",
        help="[dense, denoising, sparse, vae, contractive] encoder layer sizes, the last one the "
        "code; the decoder mirrors them",
    )
    add("--activation", default=model.activation, help="[same] activation of the hidden layers")
    add(
        "--dropout",
        type=fraction,
        default=model.dropout,
        help="[same] dropout rate after every hidden layer (0: none)",
    )
    add(
        "--input-noise",
        type=non_negative_float,
        default=model.input_noise,
        help="[denoising; any] std of Gaussian noise added to the normalised input while "
        f"training (default: {DEFAULT_DENOISING_NOISE:g} for denoising, 0 for the others)",
    )
    for field, parse, family, text in FAMILY_OPTIONS:
        default = getattr(model, field)
        add(
            "--" + field.replace("_", "-"),
            type=parse,
            default=",".join(map(str, default)) if isinstance(default, tuple) else default,
            help=f"[{family}] {text}",
        )


def add_threshold_options(parser: argparse.ArgumentParser) -> None:
    train = TrainConfig()
    add = parser.add_argument_group(
        "threshold rule",
        "A beat is abnormal when its reconstruction error (MAE) is above the threshold. Each "
        "option below the rule applies to one rule only.",
    ).add_argument
    add(
        "--threshold-rule",
        choices=get_args(ThresholdRuleName),
        default=None,
        help=f"(default: {train.threshold_rule}; for a --recording baseline, percentile with P "
        "100, the baseline's largest error) "
        "mean-std: mean + K * std of the training normal beats' errors; percentile: the P-th "
        "percentile of those errors; calibrated: the best on the training part's labelled beats "
        "(all its normal beats and all its abnormal ones; never the test rows)",
    )
    add(
        "--threshold-max-shift",
        type=non_negative_float,
        metavar="SAMPLES",
        help="mean-std and percentile: the training normal beats the threshold is taken over are "
        "each shifted once by up to this many recording samples, as beats cut from a recording "
        f"are (default {train.threshold_max_shift:g}; for a recording baseline 0, the only "
        "value it takes, as its beats were cut from the recording itself)",
    )
    add(
        "--threshold-k",
        type=non_negative_float,
        default=train.threshold_k,
        metavar="K",
        help="mean-std: threshold = mean + K * std",
    )
    add(
        "--threshold-percentile",
        type=percentile,
        default=train.threshold_percentile,
        metavar="P",
        help="percentile: threshold = the P-th percentile, P in (0, 100]",
    )
    add(
        "--calibrate-for",
        choices=get_args(CalibrationTarget),
        default=train.calibrate_for,
        help="calibrated: f1 maximises F1; false-alarm-rate catches the most abnormal beats "
        "while flagging at most R of the normal ones (--target-false-alarm-rate)",
    )
    add(
        "--target-false-alarm-rate",
        type=rate,
        default=train.target_false_alarm_rate,
        metavar="R",
        help="calibrated, --calibrate-for false-alarm-rate: the highest fraction of normal "
        "beats that may be flagged, R in [0, 1]",
    )


def config_from_args(args: argparse.Namespace, baseline: bool = False) -> TrainConfig:
    """The settings the options give; a recording baseline's threshold rule defaults to the
    largest error of its beats (`training.fitting.baseline`), a data set's to mean + 1 * std."""
    rule, percentile = args.threshold_rule, args.threshold_percentile
    if rule is None:
        rule, percentile = (
            ("percentile", 100.0) if baseline else (TrainConfig.threshold_rule, percentile)
        )
    # measured on ECG5000's beats; a baseline stays unsmoothed unless asked
    window = args.smoothing_window
    if window is None:
        window = 0 if baseline else TrainConfig.smoothing_window
    candidates = args.candidates
    if candidates is None:
        candidates = 1 if baseline else TrainConfig.candidates
    step_height = args.step_height
    if step_height is None:
        step_height = 0.0 if baseline else TrainConfig.step_height
    threshold_shift = args.threshold_max_shift
    if threshold_shift is None:
        threshold_shift = 0.0 if baseline else TrainConfig.threshold_max_shift
    return TrainConfig(
        model=ModelConfig.of_families(
            args.architecture,  # `families` parsed it, its default too
            args.ensemble_size,
            hidden_units=args.hidden_units,
            activation=args.activation,
            dropout=args.dropout,
            input_noise=args.input_noise,
            sparsity_l1=args.sparsity_l1,
            conv_filters=args.conv_filters,
            kernel_size=args.kernel_size,
            code_size=args.code_size,
            kl_weight=args.kl_weight,
            contractive_weight=args.contractive_weight,
            lstm_units=args.lstm_units,
            lstm_step=args.lstm_step,
            learning_rate=args.learning_rate,
        ),
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        threshold_rule=rule,
        threshold_k=args.threshold_k,
        threshold_percentile=percentile,
        calibrate_for=args.calibrate_for,
        target_false_alarm_rate=args.target_false_alarm_rate,
        validation_fraction=args.validation_fraction,
        patience=args.patience,
        candidates=candidates,
        trim_fraction=args.trim_fraction,
        trim_warmup=args.trim_warmup,
        max_shift=args.max_shift,
        step_height=step_height,
        step_fraction=args.step_fraction,
        threshold_max_shift=threshold_shift,
        smoothing_window=window,
        smoothing_polyorder=args.smoothing_polyorder,
        align_max_shift=args.align_max_shift,
        align_step=args.align_step,
    )


def fitting_options_given(args: argparse.Namespace) -> list[str]:
    """The options of `add_training_options` given other than their defaults, but for the
    threshold rule's: those that shape the network, as `--epochs`."""
    every, threshold = argparse.ArgumentParser(), argparse.ArgumentParser()
    add_training_options(every)
    add_threshold_options(threshold)
    threshold_options = vars(threshold.parse_args([]))
    return [
        "--" + name.replace("_", "-")
        for name, default in vars(every.parse_args([])).items()
        if name not in threshold_options and getattr(args, name) != default
    ]


def families(text: str) -> tuple[ArchitectureName, ...]:
    """--architecture: one family, or several comma-separated (a mixed ensemble)."""
    names = [name.strip() for name in text.split(",")]
    unknown = [name for name in names if name not in ARCHITECTURES]
    if unknown or len(set(names)) < len(names):
        raise argparse.ArgumentTypeError(
            f"expected distinct names from {','.join(ARCHITECTURES)}, got {text!r}"
        )
    return tuple(cast(ArchitectureName, name) for name in names)


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def smoothing_window(text: str) -> int:
    value = int(text)
    if value and (value < 3 or value % 2 == 0):
        raise argparse.ArgumentTypeError(f"must be 0 (off) or an odd number from 3, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return value


def percentile(text: str) -> float:
    value = float(text)
    if not 0 < value <= 100:
        raise argparse.ArgumentTypeError(f"must be in (0, 100], got {text}")
    return value


def rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def units(text: str) -> tuple[int, ...]:
    try:
        units = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 32,16,8, got {text!r}") from None
    if any(unit <= 0 for unit in units):
        raise argparse.ArgumentTypeError(f"layer sizes must be positive, got {text!r}")
    return units


# ModelConfig field, parser, the family that reads it, and what it is (ecg-train --help).
FAMILY_OPTIONS: tuple[tuple[str, Callable[[str], object], str, str], ...] = (
    ("sparsity_l1", non_negative_float, "sparse", "L1 weight on the code"),
    ("conv_filters", units, "conv", "filters of each stride-2 Conv1D layer "
     "(N,N,...); the decoder mirrors them"),
    ("kernel_size", positive_int, "conv", "kernel width"),
    ("code_size", positive_int, "conv", "units of the dense bottleneck"),
    ("kl_weight", non_negative_float, "vae", "weight of the KL divergence "
     "against the reconstruction MAE"),
    ("contractive_weight", non_negative_float, "contractive", "weight of the "
     "squared Frobenius norm of the code's Jacobian"),
    ("lstm_units", positive_int, "lstm", "LSTM units"),
    ("lstm_step", positive_int, "lstm", "samples read per time step (must "
     "divide the beat length)"),
)  # fmt: skip


def run_command(
    parse: Callable[[], argparse.Namespace], run: Callable[[argparse.Namespace], int]
) -> int:
    """A command line's exit code: argparse's for --help and usage errors, 130 on Ctrl-C."""
    try:
        args = parse()
    except SystemExit as exc:  # --help, or a usage error argparse already reported
        return int(exc.code or 0)
    try:
        return run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
