"""`ecg-evaluate`: score a model directory on labelled beats, or train on several random splits.

Model mode scores through `app.inference.scoring.load_scorer`, the service's own ONNX path, so the
figures are the ones the service would produce; it prints (and with --output saves) the report
`ecg-train` makes: metrics, confusion matrix, the table across thresholds, plots, plus
`report.json`.
It needs no TensorFlow. Multi-split mode trains (see `training.evaluation.multi_split`).

Scoring, plotting and training modules are imported only once the arguments are good, so `--help`
and usage errors are fast.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from app.inference.artifact import ArtifactError, MeanPlusKStd, ModelMetadata
from app.inputs.problems import BadRequest
from training.cli.options import (
    DefaultsHelpFormatter,
    add_training_options,
    config_from_args,
    non_negative_float,
    positive_int,
    run_command,
)
from training.config import ARCHITECTURES, LEADERBOARD_ENTRIES, MIX_SEPARATOR, TrainConfig
from training.data.sources import DATA_SET_NAME, DataError, Dataset, load_data_arg

if TYPE_CHECKING:
    from training.evaluation.report import Report

EXIT_FAILURE = 1
EXIT_USAGE = 2
REPORT_JSON = "report.json"
PROG = "ecg-evaluate"
SPLITS_DEFAULT = 5  # the leaderboard's


class EvaluationError(Exception):
    """The model and the data cannot be evaluated together."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()

    def parse() -> argparse.Namespace:
        args = parser.parse_args(argv)
        check_mode(parser, args)
        return args

    return run_command(parse, run)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Score a model directory against a labelled data file and report accuracy, precision, "
            "recall, F1, ROC AUC, the confusion matrix and the figures across thresholds, as the "
            "service would score the beats. Or, with --multi-split N, train the model on N random "
            "80/20 splits and report how the held-out figures vary."
        ),
        formatter_class=DefaultsHelpFormatter,
    )
    add = parser.add_argument
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--model", type=Path, metavar="DIR", help="model directory to evaluate")
    mode.add_argument(
        "--multi-split",
        type=_at_least_two,
        metavar="N",
        help="train on N random 80/20 splits instead: the reference split (random_state 21, "
        "seed 42: ecg-train's run) then N - 1 others, random_state = seed = S, S + 1, ... "
        "(skipping 21)",
    )
    mode.add_argument(
        "--leaderboard",
        action="store_true",
        help="train every autoencoder family, and PCA, on the same --splits random 80/20 splits "
        "and seeds as --multi-split, and write a table and a plot comparing them (--output)",
    )
    add(
        "--data",
        metavar="PATH|ecg5000",
        help=f"labelled data file (either layout ecg-train reads), or {DATA_SET_NAME!r}",
    )
    add(
        "--output",
        type=Path,
        metavar="DIR",
        help="directory to write the report's files into (created if needed; files of the same "
        "name are replaced); without it the report is only printed",
    )
    add_model_options(parser)
    add_recording_options(parser)
    add_multi_split_options(parser)
    return parser


def add_recording_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "recording mode (--model DIR --recording PATH): judged against its annotations"
    )
    add = group.add_argument
    add("--recording", type=Path, metavar="PATH", help="a WFDB record's header (.hea)")
    add("--annotations", default="atr", metavar="EXT", help="its annotation file's extension")
    add("--lead", help="lead by name or index (default: the first ECG lead)")
    add("--sampling-rate", type=float, help=argparse.SUPPRESS)
    add(
        "--judge-from",
        type=float,
        metavar="SECONDS",
        help="judge the beats from here on (default: after the stretch a baseline was fitted on, "
        "when it was fitted on this record; else from the start)",
    )
    add("--shape-only", action="store_true", help="judge by shape alone: no timing rule")


def add_multi_split_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("multi-split and leaderboard modes")
    group.add_argument(
        "--seed-base", type=int, default=1, metavar="S", help="first random_state and seed"
    )
    over = group.add_mutually_exclusive_group()  # argparse refuses the two together
    over.add_argument(
        "--splits",
        type=_at_least_two,
        metavar="N",
        help=f"leaderboard: the number of splits (the reference split first; default "
        f"{SPLITS_DEFAULT})",
    )
    over.add_argument(
        "--seeds",
        type=_at_least_two,
        metavar="N",
        help="leaderboard: instead of --splits, the reference split N times, trained from seeds "
        "42, 43, ...: how much the figures owe to the initial weights",
    )
    group.add_argument(
        "--entries",
        type=_entries,
        default=",".join(LEADERBOARD_ENTRIES),
        metavar="NAME,...",
        help="leaderboard: the families to compare (and pca), or mixed ensembles of them "
        "(sparse+denoising); each is trained with the training options below, --architecture "
        "aside, --ensemble-size autoencoders per family",
    )
    group.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        metavar="N",
        help="leaderboard: train in N processes of one thread each (at most one per core); the "
        "figures are the same, only the timings differ",
    )
    add_training_options(parser, with_seed=False, title="training (multi-split, leaderboard)")
    parser.set_defaults(seed=TrainConfig().seed)  # the reference split's seed


def add_model_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model mode")
    group.add_argument(
        "--reference-split",
        action="store_true",
        help="evaluate only the 1,000 held-out test rows of the reference protocol "
        "(train_test_split(test_size=0.2, random_state=21)) instead of every row",
    )
    point = group.add_mutually_exclusive_group()
    point.add_argument(
        "--threshold",
        type=_positive_finite_float,
        metavar="T",
        help="evaluate at this threshold instead of the model's",
    )
    point.add_argument(
        "--k",
        type=non_negative_float,
        metavar="K",
        help="evaluate at mean + K * std of the training normal beats' errors (from metadata.json)",
    )


MODEL_MODE_OPTIONS = {
    "reference_split": "--reference-split",
    "threshold": "--threshold",
    "k": "--k",
}


def check_mode(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse the options of the other mode, rather than silently ignoring them."""
    if args.recording is not None:
        if args.model is None or args.data is not None:
            parser.error("--recording goes with --model DIR, without --data")
        return
    if args.data is None:
        parser.error("--data is required (or --recording, with --model)")
    if args.multi_split is not None or args.leaderboard:
        mode = "--leaderboard" if args.leaderboard else "--multi-split"
        for dest, option in MODEL_MODE_OPTIONS.items():
            if getattr(args, dest) not in (None, False):
                parser.error(f"{option} goes with --model, not {mode}")
        if args.leaderboard and args.output is None:
            parser.error("--leaderboard writes its table and plot: give --output DIR")
        for option, value in (("--seeds", args.seeds), ("--splits", args.splits)):
            if value is not None and not args.leaderboard:
                parser.error(f"{option} goes with --leaderboard, not --multi-split")
        if args.seeds is not None and args.seed_base != multi_split_defaults()["seed_base"]:
            parser.error("--seed-base goes with --splits: --seeds trains the reference split")
        return
    for dest, default in multi_split_defaults().items():
        if getattr(args, dest) != default:
            option = "--" + dest.replace("_", "-")
            parser.error(f"{option} goes with --multi-split, not --model")


def multi_split_defaults() -> dict[str, Any]:
    """The multi-split mode's options (by their dest) and their default values."""
    probe = argparse.ArgumentParser(add_help=False)
    add_multi_split_options(probe)
    return vars(probe.parse_args([]))


def run_recording_evaluation(args: argparse.Namespace) -> int:
    """`--model DIR --recording PATH`: the model judged on the record's annotations."""
    from app.inference.scoring import load_scorer
    from app.inputs.recording_paths import read_recording_path
    from training.evaluation import recording as judged

    scorer = load_scorer(args.model)
    record = read_recording_path(args.recording, args.sampling_rate, args.annotations)
    judge_from = args.judge_from
    if judge_from is None:
        judge_from = judged.judge_from_default(scorer, record)
    report = judged.evaluate_recording(record, scorer, args.lead, judge_from, not args.shape_only)
    print(judged.format_table(report))
    if args.output is not None:
        judged.save_report(report, args.output)
        report_file, roc_png = args.output / judged.REPORT_FILE, args.output / judged.ROC_PNG
        print(f"report written to {report_file} and {roc_png}")
    return 0


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    if args.recording is not None:
        try:
            return run_recording_evaluation(args)
        except (ArtifactError, BadRequest, ValueError, OSError) as exc:
            return _fail(str(exc), EXIT_USAGE)
    try:
        dataset = load_data_arg(args.data)
        if args.multi_split is not None:
            return run_multi_split(args, dataset, started)
        if args.leaderboard:
            return run_leaderboard(args, dataset, started)
        return run_model(args, dataset)
    except (DataError, ArtifactError, EvaluationError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except OSError as exc:
        return _fail(f"{exc.filename or args.output}: {exc.strerror or exc}", EXIT_FAILURE)


def run_model(args: argparse.Namespace, dataset: Dataset) -> int:
    from app.inference.scoring import load_scorer
    from training.evaluation.report import ScoredBeats, build_report, format_report, save_report

    scorer = load_scorer(args.model)
    metadata = scorer.metadata
    rows, selection = select_rows(dataset, metadata, args.reference_split)
    beats, is_normal = dataset.beats[rows], dataset.is_normal[rows]
    scores = scorer.score(beats)
    scored = ScoredBeats(scores.errors, is_normal, scores.normalised, scores.reconstructions, rows)
    threshold, rule = chosen_threshold(metadata, args.threshold, args.k)
    heading = "held-out metrics" if args.reference_split else f"metrics on {selection}"
    report = build_report(scored, threshold, rule, metadata.training_errors, selection, heading)
    _say(f"model {metadata.model_version} ({args.model}) on {dataset.source}: {selection}")
    _say(format_report(report))
    if args.output is not None:
        args.output.mkdir(parents=True, exist_ok=True)
        written = save_report(report, args.output)
        record = report_json(report, metadata, args, dataset, selection, written)
        (args.output / REPORT_JSON).write_text(json.dumps(record, indent=2) + "\n")
        _say(f"report written to {args.output}")
    return 0


def select_rows(
    dataset: Dataset, metadata: ModelMetadata, reference_split: bool
) -> tuple[np.ndarray, str]:
    """(0-based rows, what they are): every row, or the reference split's test rows."""
    if dataset.beats.shape[1] != metadata.input_length:
        raise EvaluationError(
            f"the data has {dataset.beats.shape[1]} samples per beat, "
            f"the model expects {metadata.input_length}"
        )
    rows, selection = np.arange(dataset.n_rows), f"all {dataset.n_rows} rows"
    if reference_split:
        from training.data.split import split_reference

        config = TrainConfig()
        rows = split_reference(dataset, config.test_size, config.split_random_state).test_rows
        selection = f"the {len(rows)} held-out test rows of the reference split"
        if dataset.sha256 != metadata.training.data_sha256:
            print(
                f"{PROG}: note: this is not the data the model was trained on (sha256 differs); "
                "the reference split's test rows are not its held-out rows",
                file=sys.stderr,
            )
    if len(set(dataset.is_normal[rows].tolist())) < 2:
        raise EvaluationError(f"{selection} hold one class only; both are needed to evaluate")
    return rows, selection


def chosen_threshold(
    metadata: ModelMetadata, threshold: float | None, k: float | None
) -> tuple[float, str]:
    """The model's threshold and rule, or the one asked for on the command line."""
    if threshold is not None:
        return threshold, "threshold given on the command line"
    if k is not None:
        return metadata.training_errors.mean_plus_k_std(k), MeanPlusKStd(k=k).describe()
    return metadata.threshold, metadata.threshold_rule.describe()


def report_json(
    report: Report,
    metadata: ModelMetadata,
    args: argparse.Namespace,
    dataset: Dataset,
    selection: str,
    written: list[Path],
) -> dict[str, Any]:
    from training.evaluation.report import report_record

    return {
        "model_dir": str(args.model),
        "model_version": metadata.model_version,
        "data": {
            "source": dataset.source,
            "sha256": dataset.sha256,
            "rows": selection,
            "n_beats": report.metrics.n_test,
        },
        **report_record(report),
        "files": sorted(path.name for path in written),
    }


def run_multi_split(args: argparse.Namespace, dataset: Dataset, started: float) -> int:
    from training.evaluation import multi_split
    from training.fitting.train import TrainingError

    config = config_from_args(args)
    plans = multi_split.plan_splits(args.multi_split, args.seed_base, config)
    _say(f"training on {len(plans)} splits of {dataset.source} ({dataset.n_rows} rows)")
    try:
        rows = multi_split.run_splits(dataset, config, plans, log=_say)
    except TrainingError as exc:
        raise EvaluationError(str(exc)) from None
    summary = multi_split.summarise(rows)
    _say(multi_split.markdown_table(rows, summary))
    if args.output is not None:
        args.output.mkdir(parents=True, exist_ok=True)
        details = run_details(dataset, config)
        multi_split.write_csv(rows, summary, args.output / multi_split.MULTI_SPLIT_CSV)
        multi_split.write_json(rows, summary, details, args.output / multi_split.MULTI_SPLIT_JSON)
        _say(f"tables written to {args.output}")
    _say(f"{time.perf_counter() - started:.1f}s in all")
    return 0


def run_leaderboard(args: argparse.Namespace, dataset: Dataset, started: float) -> int:
    from training.evaluation import leaderboard, multi_split
    from training.fitting.train import TrainingError

    config = config_from_args(args)
    if args.seeds is not None:
        plans = multi_split.plan_seeds(args.seeds, config)
        over = f"the reference split with {len(plans)} seeds"
    else:
        plans = multi_split.plan_splits(args.splits or SPLITS_DEFAULT, args.seed_base, config)
        over = f"{len(plans)} splits"
    _say(
        f"leaderboard: {', '.join(args.entries)} on {over} of {dataset.source} "
        f"({dataset.n_rows} rows)"
    )
    try:
        runs = leaderboard.run_leaderboard(
            dataset, config, plans, args.entries, log=_say, jobs=args.jobs
        )
    except TrainingError as exc:
        raise EvaluationError(str(exc)) from None
    details = run_details(dataset, config)
    written = leaderboard.write_outputs(runs, details, args.output)
    _say(leaderboard.markdown_table(leaderboard.summarise(runs)))
    _say(f"written: {', '.join(str(path) for path in written)}")
    _say(f"{time.perf_counter() - started:.1f}s in all")
    return 0


def run_details(dataset: Dataset, config: TrainConfig) -> dict[str, Any]:
    """What a multi-split or leaderboard record ran: the data, the settings and the machine."""
    from training.artifacts.export import machine_record

    return {
        "data": dataset.source,
        "data_sha256": dataset.sha256,
        "config": asdict(config),
        "machine": machine_record(),
    }


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def _say(line: str) -> None:
    print(line, flush=True)


def _at_least_two(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2 (for a spread), got {text}")
    return value


def _entries(text: str) -> list[str]:
    """Families, pca, and mixes of families joined by "+" (sparse+denoising)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names or not all(map(_known_entry, names)):
        raise argparse.ArgumentTypeError(
            f"expected names from {','.join(LEADERBOARD_ENTRIES)}, or families joined by "
            f"{MIX_SEPARATOR!r}, got {text!r}"
        )
    return names


def _known_entry(name: str) -> bool:
    if name in LEADERBOARD_ENTRIES:
        return True
    parts = name.split(MIX_SEPARATOR)
    return len(parts) == len(set(parts)) > 1 and all(part in ARCHITECTURES for part in parts)


def _positive_finite_float(text: str) -> float:
    value = float(text)
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


if __name__ == "__main__":
    raise SystemExit(main())
