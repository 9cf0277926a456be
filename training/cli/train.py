"""`ecg-train`: train the autoencoder on a data file, evaluate it, and write the model directory.

TensorFlow is imported only after the arguments are parsed, so `--help` and usage errors are fast.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from app.inference.artifact import Calibrated
from training.artifacts.atomic import ExportError, check_replaceable
from training.cli.options import (
    DefaultsHelpFormatter,
    add_training_options,
    config_from_args,
    fitting_options_given,
    run_command,
)
from training.data.sources import (
    CACHE_DIR_ENV,
    DATA_SET_NAME,
    DEFAULT_URL,
    DataError,
    Dataset,
    load_data_arg,
)

EXIT_FAILURE = 1
EXIT_USAGE = 2
# The options of a recording baseline (their `dest`), which --from-model has no use for.
BASELINE_OPTIONS = ("lead", "baseline", "annotations", "sampling_rate")


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(lambda: build_parser().parse_args(argv), run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecg-train",
        description=(
            "Train the ECG autoencoder on normal beats, evaluate it on the held-out test rows of "
            "the reference split, and write the model directory the service loads."
        ),
        formatter_class=DefaultsHelpFormatter,
    )
    add = parser.add_argument
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data",
        metavar="PATH|ecg5000",
        help=f"a data file (comma-separated, label last 0/1; or UCR text, label first 1-5), or "
        f"{DATA_SET_NAME!r} to download {DEFAULT_URL} once into the cache "
        f"(~/.cache/ecg-anomaly, or ${CACHE_DIR_ENV})",
    )
    source.add_argument(
        "--recording",
        type=Path,
        metavar="PATH",
        help="fit a baseline for one person on a stretch of their recording: a WFDB header "
        "(.hea), an EDF file or a CSV of samples (with --sampling-rate); no labels needed",
    )
    source.add_argument(
        "--recordings",
        type=Path,
        metavar="DIR",
        help="fit one population baseline on the same stretch of every WFDB record (.hea) in DIR",
    )
    baseline = parser.add_argument_group("recording baselines (--recording, --recordings)")
    baseline.add_argument("--lead", help="lead by name or index (default: the first ECG lead)")
    baseline.add_argument(
        "--baseline",
        default="0:05:00",
        metavar="END|START-END",
        help="the stretch fitted on: 0:05:00 is the first five minutes (AAMI EC57's patient-"
        "specific practice); 0:10:00-0:15:00 another; times as h:mm:ss, m:ss or seconds",
    )
    baseline.add_argument(
        "--annotations",
        metavar="EXT",
        help="fit only on the beats annotated normal in this WFDB annotation file beside the "
        "record (e.g. atr), for comparison; the default uses no labels",
    )
    baseline.add_argument("--sampling-rate", type=float, help="samples per second of a CSV")
    add(
        "--output",
        required=True,
        type=Path,
        metavar="DIR",
        help="model directory to write; an existing model directory there is replaced atomically",
    )
    add(
        "--from-model",
        type=Path,
        metavar="DIR",
        help="keep the network of this model directory and take only its threshold again, by the "
        "threshold options given, over the --data it was trained on (its seed); the "
        "report and metadata are made again, the network files copied. For moving a model to "
        "another threshold rule without fitting it again; the options that shape a network are "
        "refused with it",
    )
    add_training_options(parser)
    add("--quiet", action="store_true", help="no per-epoch progress lines")
    return parser


def run(args: argparse.Namespace) -> int:
    if args.from_model is not None:
        refused = fitting_options_given(args) + baseline_options_given(args)
        if args.data is None or refused:
            why = ", ".join(refused) or "--recording/--recordings"
            return _fail(
                f"--from-model keeps its model's network and takes its threshold again over the "
                f"--data it was trained on: {why} cannot go with it",
                EXIT_USAGE,
            )
    if args.data is None:
        from training.cli.baseline import run_baseline  # TensorFlow, once the arguments are good

        return run_baseline(args)
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
    if args.from_model is not None:
        return rethreshold_and_export(dataset, args, started)
    return train_and_export(dataset, args, started)


def baseline_options_given(args: argparse.Namespace) -> list[str]:
    """The recording-baseline options given other than their defaults (read from the parser)."""
    parser = build_parser()
    return [
        "--" + name.replace("_", "-")
        for name in BASELINE_OPTIONS
        if getattr(args, name) != parser.get_default(name)
    ]


def train_and_export(dataset: Dataset, args: argparse.Namespace, started: float) -> int:
    # Imported here: TensorFlow loads only once the arguments, data and output path are good.
    from training.artifacts.export import export_model
    from training.evaluation.report import format_report
    from training.fitting.train import TrainingError, train

    try:
        result = train(dataset, config_from_args(args), log=None if args.quiet else _say)
        exported = export_model(result, args.output)
    except (TrainingError, ExportError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except OSError as exc:  # e.g. the output directory is not writable
        return _fail(_describe(exc, args.output), EXIT_FAILURE)
    metadata = exported.metadata
    _say(format_report(exported.report))
    if isinstance(metadata.threshold_rule, Calibrated):
        _say(format_calibration(metadata.threshold_rule))
    fits = ", ".join(
        f"{member.epochs_run} epochs (kept epoch {member.best_epoch})" for member in result.members
    )
    _say(f"trained {fits} in {result.seconds:.1f}s; {time.perf_counter() - started:.1f}s in all")
    _say(f"model {metadata.model_version} written to {args.output}")
    return 0


def rethreshold_and_export(dataset: Dataset, args: argparse.Namespace, started: float) -> int:
    from training.artifacts.rethreshold import export_rethresholded
    from training.evaluation.report import format_report
    from training.fitting.rethreshold import retake_threshold
    from training.fitting.train import TrainingError

    try:
        result = retake_threshold(args.from_model, dataset, config_from_args(args))
        exported = export_rethresholded(result, args.output)
    except (TrainingError, ExportError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except OSError as exc:
        return _fail(_describe(exc, args.output), EXIT_FAILURE)
    metadata = exported.metadata
    _say(format_report(exported.report))
    if isinstance(metadata.threshold_rule, Calibrated):
        _say(format_calibration(metadata.threshold_rule))
    _say(
        f"threshold {result.metadata.threshold:.6g} -> {metadata.threshold:.6g} "
        f"({metadata.threshold_rule.describe()}); {time.perf_counter() - started:.1f}s in all"
    )
    _say(f"model {metadata.model_version} (the network of {metadata.training.network_from}) "
         f"written to {args.output}")  # fmt: skip
    return 0


def format_calibration(rule: Calibrated) -> str:
    achieved = rule.achieved
    return (
        f"on the training part's labelled beats ({rule.n_normal} normal, {rule.n_abnormal} "
        "abnormal): "
        f"precision {achieved.precision:.4f}, recall {achieved.recall:.4f}, F1 {achieved.f1:.4f}, "
        f"false-alarm rate {achieved.false_alarm_rate:.4f}, accuracy {achieved.accuracy:.4f}"
    )


def _describe(exc: OSError, fallback: object) -> str:
    return f"{exc.filename or fallback}: {exc.strerror or exc}"


def _fail(message: str, code: int) -> int:
    print(f"ecg-train: error: {message}", file=sys.stderr)
    return code


def _say(line: str) -> None:
    print(line, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
