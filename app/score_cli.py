"""`ecg-score`: score a CSV file of beats offline, with the model and rules the service uses.
(Continuous recordings: `app.score_recording`.)

    ecg-score beats.csv --output verdicts.csv [--model DIR] [--k K | --threshold T]
              [--chunk-rows N] [--resample] [--skip-bad]

The rows are read as `POST /v1/predict/csv` reads them (`app.inputs.csv_input`), scored in chunks of
`--chunk-rows` (memory stays bounded whatever the file's size) and written as they are scored:
one output row per input row, `index,reconstruction_error,is_anomaly,verdict[,label]`, where
`index` is the row's position among the input's data rows. Progress goes to stderr, a summary to
stdout. A bad row stops the run with exit code 1 and a one-line message naming its line, unless
`--skip-bad`: then it has no output row (its index is skipped) and is listed at the end.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from app.api.schemas import predict_response_body
from app.config import SHIPPED_MODEL_DIR
from app.inference.artifact import ArtifactError
from app.inference.scoring import (
    OperatingPoint,
    Scorer,
    UnscorableBeatsError,
    load_scorer,
    operating_point,
)
from app.inputs.csv_input import (
    CsvBeatReader,
    CsvFormatError,
    CsvRow,
    RowProblem,
    result_cells,
    result_columns,
    utf8_lines,
)
from app.inputs.problems import MAX_DESCRIBED_PROBLEMS
from app.score_recording import is_recording, score_recording, with_recording_options

PROGRESS_EVERY_S = 2.0
EXIT_BAD_INPUT = 1
EXIT_USAGE = 2


class BadRowError(Exception):
    def __init__(self, problem: RowProblem) -> None:
        self.problem = problem
        super().__init__(str(problem))


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        scorer = load_scorer(args.model)
    except ArtifactError as exc:
        return _fail(f"cannot load the model: {exc}", EXIT_USAGE)
    point = operating_point(scorer.metadata, k=args.k, threshold=args.threshold)
    if is_recording(args):
        return score_recording(args, scorer, point)
    partial = args.output.with_name(args.output.name + ".partial")
    try:
        with args.input.open("rb") as source, partial.open("w", newline="") as sink:
            run = ScoringRun(scorer, point, args, sink)
            lines = utf8_lines(source)
            run.score(CsvBeatReader(lines, scorer.input_length, args.resample, "use --resample"))
    except OSError as exc:
        partial.unlink(missing_ok=True)
        return _fail(f"{exc.filename or args.input}: {exc.strerror}", EXIT_USAGE)
    except (BadRowError, CsvFormatError) as exc:
        partial.unlink(missing_ok=True)
        return _fail(f"{args.input}: {exc}", EXIT_BAD_INPUT)
    partial.replace(args.output)
    run.summarise()
    return 0


class ScoringRun:
    """Rows in, chunks scored, output rows written; counts for the progress and summary."""

    def __init__(self, scorer: Scorer, point: OperatingPoint, args: Any, sink: TextIO) -> None:
        self.scorer, self.point, self.args = scorer, point, args
        self.writer = csv.writer(sink, lineterminator="\n")
        self.columns: list[str] | None = None
        self.rows = self.abnormal = self.bad = 0
        self.bad_described: list[RowProblem] = []
        self.started = self.reported = time.monotonic()

    def score(self, reader: CsvBeatReader) -> None:
        chunk: list[CsvRow] = []
        for item in reader:
            if isinstance(item, RowProblem):
                self._bad_row(item)
                continue
            chunk.append(item)
            if len(chunk) >= self.args.chunk_rows:
                self._flush(chunk, bool(reader.has_labels))
                chunk = []
        self._flush(chunk, bool(reader.has_labels))
        if self.rows + self.bad == 0:
            what = "has a header row but no beats" if reader.header else "is empty"
            raise CsvFormatError(1, f"{what}; expected one beat per row")

    def _bad_row(self, problem: RowProblem) -> None:
        if not self.args.skip_bad:
            raise BadRowError(problem)
        self.bad += 1
        if len(self.bad_described) < MAX_DESCRIBED_PROBLEMS:
            self.bad_described.append(problem)

    def _flush(self, chunk: list[CsvRow], labels: bool) -> None:
        if self.columns is None:
            self.columns = result_columns(labels, self.args.resample)
            self.writer.writerow(self.columns)
        if not chunk:
            return
        try:
            scores = self.scorer.score(np.stack([row.samples for row in chunk]))
        except UnscorableBeatsError as exc:
            message = "has samples too large for the model to score (its arithmetic overflows)"
            unscorable = set(exc.indices)
            for position in sorted(unscorable):
                row = chunk[position]
                self._bad_row(RowProblem(row.index, row.line, None, message))
            self._flush([row for i, row in enumerate(chunk) if i not in unscorable], labels)
            return
        chunk_labels = [row.label or "" for row in chunk] if labels else None
        resampled_from = [row.resampled_from for row in chunk]
        document = predict_response_body(
            self.scorer.metadata, scores, self.point, False, chunk_labels, resampled_from
        )
        for row, result in zip(chunk, document["results"], strict=True):
            result["index"] = row.index  # the row's place in the whole file, not in the chunk
            self.writer.writerow(result_cells(result, self.columns))
            self.abnormal += result["is_anomaly"]
        self.rows += len(chunk)
        self._progress()

    def _progress(self) -> None:
        now = time.monotonic()
        if now - self.reported >= PROGRESS_EVERY_S:
            self.reported = now
            rate = self.rows / max(now - self.started, 1e-9)
            bad = f", {self.bad:,} bad" if self.bad else ""
            print(f"ecg-score: {self.rows:,} rows scored{bad} ({rate:,.0f}/s)", file=sys.stderr)

    def summarise(self) -> None:
        print(
            f"{self.args.input}: {self.rows:,} rows scored, {self.abnormal:,} abnormal "
            f"(threshold {self.point.threshold:.6g}: {self.point.rule}), {self.bad:,} bad rows "
            f"skipped; verdicts in {self.args.output}"
        )
        for problem in self.bad_described:
            print(f"  skipped {problem}")
        if self.bad > len(self.bad_described):
            print(f"  and {self.bad - len(self.bad_described):,} more bad rows")


def _fail(message: str, code: int) -> int:
    print(f"ecg-score: {message}", file=sys.stderr)
    return code


def _non_negative(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """--model, and --k or --threshold: the model and operating point (ecg-score, ecg-bulk)."""
    parser.add_argument(
        "--model",
        type=Path,
        default=Path(os.environ.get("ECG_MODEL_DIR", SHIPPED_MODEL_DIR)),
        help="model directory (default: ECG_MODEL_DIR, else the shipped model)",
    )
    point = parser.add_mutually_exclusive_group()
    point.add_argument(
        "--k", type=_non_negative, help="threshold = mean + k * std of the training errors"
    )
    point.add_argument("--threshold", type=_positive, help="this reconstruction-error threshold")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecg-score",
        description="Score a CSV of beats (one per row, optionally a label column), or a "
        "continuous recording (WFDB, EDF, or CSV of samples), offline.",
    )
    parser.add_argument(
        "input",
        type=Path,
        help="CSV of beats, as POST /v1/predict/csv takes; or a recording: a WFDB header (.hea), "
        "an EDF file (.edf), or a CSV of samples with --recording",
    )
    parser.add_argument("--output", "-o", type=Path, required=True, help="CSV of verdicts")
    add_model_arguments(parser)
    parser.add_argument(
        "--chunk-rows", type=_positive_int, default=1000, help="rows scored at once (1000)"
    )
    parser.add_argument(
        "--resample",
        action="store_true",
        help="interpolate rows of another length to the model's input length",
    )
    parser.add_argument(
        "--skip-bad", action="store_true", help="skip bad rows and list them at the end"
    )
    return with_recording_options(parser)
