"""Scoring an archive's partitions on a Dask cluster: a LocalCluster, or a running scheduler.

The model is loaded once per worker, by a worker plugin, when the worker joins (a worker that
dies and is replaced loads it again); the partitions' tasks use the worker's copy. Each task
writes its own output file into a `.partial` directory beside the output, which is renamed to
the output only once every partition is written: a run that fails, or is interrupted, never
leaves an output that looks complete. A worker lost mid-run has its tasks run again elsewhere
(Dask's own retries, `distributed.scheduler.allowed-failures`).
"""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker

from app.bulk.partitions import Partition, plan_partitions, score_partition
from app.inference.scoring import OperatingPoint, Scorer, load_scorer

PLUGIN_NAME = "ecg-scorer"


class ScorerPlugin(WorkerPlugin):
    """Loads the model on each worker once; `loads` counts it (the tests read it)."""

    name = PLUGIN_NAME

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self.scorer: Scorer | None = None
        self.loads = 0

    def setup(self, worker: Any) -> None:
        self.scorer = load_scorer(self.model_dir)
        self.loads += 1


@dataclass(frozen=True)
class BulkJob:
    source: Path
    output: Path
    model_dir: Path
    point: OperatingPoint
    keep: tuple[str, ...] = ()
    batch_rows: int = 16_384


@dataclass(frozen=True)
class BulkResult:
    rows: int
    abnormal: int
    partitions: int
    seconds: float


def _score_on_worker(
    partition: Partition,
    sample_columns: list[str],
    job: BulkJob,
    partial_dir: Path,
) -> tuple[int, int]:
    plugin: ScorerPlugin = get_worker().plugins[PLUGIN_NAME]  # type: ignore[assignment]
    assert plugin.scorer is not None  # setup() ran when the worker joined
    return score_partition(
        plugin.scorer,
        job.point,
        partition,
        sample_columns,
        job.keep,
        partial_dir,
        job.batch_rows,
    )


def _discard(partial_dir: Path) -> None:
    """Remove a failed run's partial output. Cancelled tasks may still be writing (Dask cannot
    stop a running task), so the directory is renamed away first: a task creating its file
    after that finds no directory and fails, instead of leaving one behind a removal."""
    discarded = partial_dir.with_name(f"{partial_dir.name}.discarded-{uuid.uuid4().hex}")
    partial_dir.replace(discarded)
    shutil.rmtree(discarded, ignore_errors=True)


@contextmanager
def dask_client(scheduler: str | None, workers: int, memory_limit: str) -> Iterator[Client]:
    """A client of the scheduler at `scheduler`, or of a LocalCluster of `workers` processes
    (one thread each: ONNX Runtime runs one intra-op thread per worker)."""
    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    with (
        LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            memory_limit=memory_limit,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def run_bulk_job(
    client: Client,
    job: BulkJob,
    input_length: int,
    on_partition_done: Callable[[int, int], None] = lambda rows, partitions: None,
) -> BulkResult:
    """Score every partition of `job.source` into `job.output` (a directory of Parquet parts,
    in input order). Raises `ArchiveError` naming the bad partition; then no output exists."""
    started = time.monotonic()
    partitions, sample_columns = plan_partitions(job.source, input_length, job.keep)
    partial_dir = job.output.with_name(job.output.name + ".partial")
    shutil.rmtree(partial_dir, ignore_errors=True)
    partial_dir.mkdir(parents=True)
    client.register_plugin(ScorerPlugin(job.model_dir))
    futures = client.map(
        _score_on_worker,
        partitions,
        sample_columns=sample_columns,
        job=job,
        partial_dir=partial_dir,
        pure=False,
    )
    rows = abnormal = 0
    try:
        for future in as_completed(futures):
            part_rows, part_abnormal = future.result()
            rows, abnormal = rows + part_rows, abnormal + part_abnormal
            on_partition_done(part_rows, len(partitions))
    except BaseException:
        client.cancel(futures)
        _discard(partial_dir)
        raise
    partial_dir.replace(job.output)
    return BulkResult(rows, abnormal, len(partitions), time.monotonic() - started)
