"""`ecg-bulk`: score a Parquet archive of beats on a Dask cluster, partition by partition.

    ecg-bulk ARCHIVE --output DIR [--model DIR] [--k K | --threshold T] [--keep COLUMN ...]
             [--scheduler tcp://host:8786 | --workers N [--memory-limit 2GiB]]

ARCHIVE is a Parquet file or a directory of them (read in name order); its numeric columns are
the beat's samples, one column each, besides the `--keep` columns, which are copied to the
output. DIR is written as a directory of Parquet files, one per input row group, in input order:
`index`, `reconstruction_error`, `is_anomaly`, `verdict`, then the kept columns; read it with
`pandas.read_parquet(DIR)`. Errors and verdicts are those of `ecg-score` and the service. A bad
partition stops the run with exit code 1 and a message naming the file and row; no output is
left then. With `--scheduler` the workers must see ARCHIVE, DIR and the model at the same paths.
Requires the `bulk` extra: pip install 'ecg-anomaly[bulk]'.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from app.bulk.engine import BulkJob, dask_client, run_bulk_job
from app.bulk.partitions import ArchiveError
from app.inference.artifact import ArtifactError
from app.inference.scoring import load_scorer, operating_point
from app.score_cli import _positive_int, add_model_arguments

EXIT_BAD_INPUT = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.output.exists():
        return _fail(f"{args.output}: exists; remove it or choose another output", EXIT_USAGE)
    try:
        metadata = load_scorer(args.model).metadata  # checked here, before any worker starts
    except ArtifactError as exc:
        return _fail(f"cannot load the model: {exc}", EXIT_USAGE)
    job = BulkJob(
        source=args.input,
        output=args.output,
        model_dir=args.model.resolve(),
        point=operating_point(metadata, k=args.k, threshold=args.threshold),
        keep=tuple(args.keep),
        batch_rows=args.batch_rows,
    )
    try:  # the message comes after the cluster's own shutdown lines, as the last line
        with (
            dask_client(args.scheduler, args.workers, args.memory_limit) as client,
            tqdm(unit=" beats", unit_scale=True, file=sys.stderr, mininterval=1) as progress,
        ):
            result = run_bulk_job(
                client, job, metadata.input_length, lambda rows, _: progress.update(rows)
            )
    except ArchiveError as exc:
        return _fail(str(exc), EXIT_BAD_INPUT)
    rate = result.rows / max(result.seconds, 1e-9)
    print(
        f"{args.input}: {result.rows:,} rows scored in {result.partitions:,} partitions, "
        f"{result.abnormal:,} abnormal (threshold {job.point.threshold:.6g}: {job.point.rule}), "
        f"{rate:,.0f} beats/s; verdicts in {args.output}"
    )
    return 0


def _fail(message: str, code: int) -> int:
    print(f"ecg-bulk: {message}", file=sys.stderr)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecg-bulk",
        description="Score a Parquet archive of beats on a Dask cluster (LocalCluster by default).",
    )
    parser.add_argument("input", type=Path, help="a Parquet file, or a directory of them")
    parser.add_argument(
        "--output", "-o", type=Path, required=True, help="output directory (must not exist)"
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--keep", action="append", default=[], help="a column to copy to the output (repeatable)"
    )
    parser.add_argument("--scheduler", help="address of a running Dask scheduler (tcp://...)")
    parser.add_argument(
        "--workers", type=_positive_int, default=2, help="LocalCluster worker processes (2)"
    )
    parser.add_argument(
        "--memory-limit", default="2GiB", help="LocalCluster memory limit per worker (2GiB)"
    )
    parser.add_argument(
        "--batch-rows",
        type=_positive_int,
        default=16_384,
        help="rows read at once within a partition (16384; memory grows with it)",
    )
    return parser
