"""`ecg-score --recording`: score a continuous recording offline, chunk by chunk.

    ecg-score 100.hea --output beats.csv [--lead MLII] [--chunk-s 600]
    ecg-score holter.edf --output beats.csv
    ecg-score samples.csv --recording --sampling-rate 360 --output beats.csv

The recording is read a chunk at a time (`app.inputs.recording_streams`), analysed as the service
analyses an upload (`app.recordings.chunked`), and its beats written as they are scored, in the
columns of `POST /v1/recordings` with `Accept: text/csv`. Memory stays bounded whatever the
recording's length; a progress bar goes to stderr, a summary to stdout.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from dataclasses import asdict
from typing import Any

import numpy as np
from tqdm import tqdm

from app.inference.scoring import OperatingPoint, Scorer
from app.inputs.problems import BadRequest
from app.inputs.recording_streams import RecordingFileError, RecordingStream, open_recording
from app.recordings.analysis import fit_warnings, model_fit, timing_rule
from app.recordings.chunked import ChunkedSummary, analyse_in_chunks
from app.recordings.report import BEAT_COLUMNS, beat_cells
from app.recordings.signal import Recording, choose_lead

RECORDING_SUFFIXES = {".hea", ".dat", ".edf", ".bdf"}


def is_recording(args: Any) -> bool:
    return bool(args.recording or args.input.suffix.lower() in RECORDING_SUFFIXES)


def score_recording(args: Any, scorer: Scorer, point: OperatingPoint) -> int:
    """Exit code 0, or 1 with a one-line message for a recording that cannot be read."""
    try:
        stream = open_recording(args.input, args.sampling_rate)
        template = Recording(
            np.empty((0, len(stream.lead_names))),
            stream.sampling_rate,
            stream.lead_names,
            stream.source_format,
        )
        lead = choose_lead(template, args.lead)
    except (RecordingFileError, BadRequest) as exc:
        print(f"ecg-score: {exc}", file=sys.stderr)
        return 1
    partial = args.output.with_name(args.output.name + ".partial")
    summary = ChunkedSummary()
    started = time.perf_counter()
    try:
        with partial.open("w", newline="") as sink:
            _write_beats(
                sink, stream, template, lead, scorer, point, summary, args.chunk_s,
                args.premature_below,
            )  # fmt: skip
    except (RecordingFileError, OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        print(f"ecg-score: {args.input}: {exc}", file=sys.stderr)
        return 1
    partial.replace(args.output)
    _print_summary(args, stream, lead, scorer, summary, time.perf_counter() - started)
    return 0


def _write_beats(
    sink: Any,
    stream: RecordingStream,
    template: Recording,
    lead: int,
    scorer: Scorer,
    point: OperatingPoint,
    summary: ChunkedSummary,
    chunk_s: float,
    premature_below: float | None,
) -> None:
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow(BEAT_COLUMNS)
    chunk = max(1, round(chunk_s * stream.sampling_rate))
    total_s = None if stream.n_samples is None else stream.n_samples / stream.sampling_rate
    with tqdm(total=total_s, unit="s", desc="ecg-score", file=sys.stderr, leave=False) as bar:
        seen = 0
        timing = timing_rule(scorer.metadata, premature_below)
        blocks = stream.blocks(chunk)
        for row in analyse_in_chunks(blocks, template, lead, scorer, point, summary, timing):
            writer.writerow(beat_cells(asdict(row)))
            if summary.samples > seen:
                bar.update((summary.samples - seen) / stream.sampling_rate)
                seen = summary.samples


def _print_summary(
    args: Any,
    stream: RecordingStream,
    lead: int,
    scorer: Scorer,
    summary: ChunkedSummary,
    seconds: float,
) -> None:
    duration_s = summary.samples / stream.sampling_rate
    print(
        f"{args.input}: {duration_s / 3600:.2f} h at {stream.sampling_rate:g} Hz, lead "
        f"{stream.lead_names[lead]}: {summary.beats:,} beats, {summary.abnormal:,} abnormal, "
        f"{summary.unscored:,} unscored, in {seconds:.1f} s ({summary.beats / seconds:,.0f} "
        f"beats/s); beats in {args.output}"
    )
    fit = model_fit(scorer.metadata, np.asarray(summary.errors))
    for warning in [*fit_warnings(scorer.metadata, fit), *summary.warnings]:
        print(f"  warning: {warning}")


def with_recording_options(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    group = parser.add_argument_group("recordings (WFDB .hea, EDF .edf, or CSV with --recording)")
    group.add_argument(
        "--recording", action="store_true", help="the CSV input is a recording's samples"
    )
    group.add_argument("--sampling-rate", type=float, help="samples per second of a CSV recording")
    group.add_argument("--lead", help="lead to score, by name or index (default: the first ECG)")
    group.add_argument(
        "--chunk-s", type=float, default=600.0, help="seconds analysed at once (600)"
    )
    group.add_argument(
        "--premature-below",
        type=float,
        help="timing rule: a beat whose RR interval is below this fraction of the local rhythm is "
        "abnormal (default: the model's own rule, if any)",
    )
    return parser
