"""`ecg-train --recording` / `--recordings`: fit a baseline on a stretch of recordings and write
an ordinary model directory (`training.fitting.baseline`, `training.artifacts.baseline`)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from app.inputs.problems import BadRequest
from app.inputs.recording_paths import read_recording_path
from training.artifacts.atomic import ExportError, check_replaceable
from training.artifacts.baseline import export_baseline
from training.cli.options import config_from_args
from training.fitting.baseline import (
    BaselineBeats,
    Stretch,
    baseline_beats,
    fit_baseline,
    parse_stretch,
)
from training.fitting.train import TrainingError

EXIT_FAILURE, EXIT_USAGE = 1, 2


def run_baseline(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        stretch = parse_stretch(args.baseline)
        check_replaceable(args.output)
        sources = recording_sources(args)
        parts = [read_part(path, args, stretch) for path in sources]
    except (ValueError, ExportError, TrainingError, OSError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    for part in parts:
        name = part.recording.lead_names[part.lead]
        print(f"{part.recording.name}: lead {name}, {part.stretch.describe()}, "
              f"{len(part.beats)} beats (QRS {part.window.qrs_polarity})", flush=True)  # fmt: skip
    config = config_from_args(args, baseline=True)
    log = None if args.quiet else (lambda line: print(line, flush=True))
    try:
        fit = fit_baseline(parts, config, log)
        metadata = export_baseline(fit, args.output, sources)
    except (TrainingError, ExportError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    except OSError as exc:
        return _fail(f"{exc.filename or args.output}: {exc.strerror or exc}", EXIT_FAILURE)
    errors = metadata.training_errors
    print(f"threshold {metadata.threshold:.6g} ({metadata.threshold_rule.describe()}); baseline "
          f"errors mean {errors.mean:.5f}, std {errors.std:.5f}")  # fmt: skip
    assert metadata.rhythm is not None
    print(f"timing: premature below {metadata.rhythm.premature_below:.3f} of the local rhythm "
          f"(baseline median {metadata.rhythm.baseline_median:.3f})")  # fmt: skip
    print(f"fitted in {fit.seconds:.1f}s; {time.perf_counter() - started:.1f}s in all")
    print(f"model {metadata.model_version} written to {args.output}")
    return 0


def recording_sources(args: argparse.Namespace) -> list[Path]:
    if args.recording is not None:
        return [args.recording]
    sources = sorted(args.recordings.glob("*.hea"))
    if not sources:
        raise TrainingError(f"{args.recordings}: no WFDB record (.hea) in it")
    return sources


def read_part(path: Path, args: argparse.Namespace, stretch: Stretch) -> BaselineBeats:
    try:
        recording = read_recording_path(path, args.sampling_rate, args.annotations)
        return baseline_beats(recording, args.lead, stretch, args.annotations is not None)
    except BadRequest as exc:
        raise TrainingError(f"{path}: {exc}") from None


def _fail(message: str, code: int) -> int:
    print(f"ecg-train: error: {message}", file=sys.stderr)
    return code
