"""Scaling-out benchmark: replicas behind nginx, and bulk scoring on Dask.

    python -m bench.scale [--duration 10] [--bulk-beats 10000000] [--skip-nginx] [--skip-bulk]

nginx: three `ecg-serve` replicas on loopback; wrk drives 1-beat /v1/predict requests straight at
one replica (the reference) and through Debian's nginx with deploy/nginx.conf rendered for 1, 2
and 3 of them (bench/replicas.py). At 16 connections it reports throughput, at 1 connection the
latency nginx adds. On a 2-core machine nginx, wrk and the replicas share the cores: the point
is what the balancer costs, not that replicas multiply anything here.

Dask: a Parquet archive of `--bulk-beats` beats made from the model's examples with noise (never
rows of a data set), scored by a plain single-process loop over its partitions (the reference)
and by `app.bulk` on a LocalCluster of 1 and 2 workers: beats per second and peak resident
memory (the highest VmHWM of the processes involved, and their sum).

The machine is shared and noisy: read the ratios, which compare runs made minutes apart.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from app.bulk.engine import BulkJob, dask_client, run_bulk_job
from app.bulk.partitions import plan_partitions, score_partition
from app.config import SHIPPED_MODEL_DIR
from app.inference.scoring import load_scorer, operating_point
from bench.replicas import LoopbackNginx
from bench.run import (
    LoadResult,
    Scenario,
    Server,
    free_port,
    markdown_table,
    run_wrk,
    started,
    tree_rss_mb,
    write_scenarios,
)

T = TypeVar("T")
REPLICAS = 3
ROWS_PER_FILE = 1_000_000
ROW_GROUP_ROWS = 100_000
BATCH_ROWS = BulkJob.batch_rows  # ecg-bulk's default, for the loop too


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    errors = 0
    with tempfile.TemporaryDirectory(prefix="ecg-scale-", dir=args.work_dir) as tmp:
        if not args.skip_nginx:
            errors += bench_nginx(Path(tmp), args)
        if not args.skip_bulk:
            bench_bulk(Path(tmp), args)
    return 0 if errors == 0 else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.scale", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=16, help="connections for throughput")
    parser.add_argument("--model-dir", type=Path, default=SHIPPED_MODEL_DIR)
    parser.add_argument("--bulk-beats", type=int, default=10_000_000, help="beats in the archive")
    parser.add_argument("--work-dir", type=Path, default=None, help="where the archive is written")
    parser.add_argument("--skip-nginx", action="store_true")
    parser.add_argument("--skip-bulk", action="store_true")
    return parser.parse_args(argv)


# --- nginx ------------------------------------------------------------------------------------


def bench_nginx(directory: Path, args: argparse.Namespace) -> int:
    scenarios = write_scenarios(directory, args.model_dir, args.connections)
    loaded, single = scenarios["1 beat"], scenarios["1 beat, 1 connection"]
    replica = Server(
        "replica", [str(Path(sys.executable).parent / "ecg-serve"), "--log-level", "warning"], []
    )
    results: dict[str, tuple[LoadResult, LoadResult | None]] = {}
    with ExitStack() as stack:
        ports = [free_port() for _ in range(REPLICAS)]
        processes = [stack.enter_context(started(replica, p, args.model_dir))[0] for p in ports]
        progress("direct to one replica")
        results["direct, 1 replica"] = (
            run_wrk(ports[0], loaded, args.duration),
            run_wrk(ports[0], single, args.duration),
        )
        for count in range(1, REPLICAS + 1):
            progress(f"nginx, {count} replica(s)")
            with LoopbackNginx(free_port(), ports[:count]) as nginx:
                at_one = run_wrk(nginx.port, single, args.duration) if count == 1 else None
                results[f"nginx, {count} replica{'s' * (count > 1)}"] = (
                    run_wrk(nginx.port, loaded, args.duration),
                    at_one,
                )
        peak_mb = max(tree_rss_mb(process.pid, "VmHWM") for process in processes)
    print(format_nginx(results, loaded, single, peak_mb))
    return sum(load.errors + (one.errors if one else 0) for load, one in results.values())


def format_nginx(
    results: dict[str, tuple[LoadResult, LoadResult | None]],
    loaded: Scenario,
    single: Scenario,
    peak_mb: float,
) -> str:
    reference_load, reference_one = results["direct, 1 replica"]
    cells = [
        [
            name,
            f"{load.requests_per_s:,.0f}",
            f"{load.requests_per_s / reference_load.requests_per_s:.2f}x",
            f"{load.p50_ms:.2f}",
            f"{load.p99_ms:.2f}",
            str(load.errors),
        ]
        for name, (load, _) in results.items()
    ]
    headers = ["path", "requests/s", "vs direct", "p50 ms", "p99 ms", "errors"]
    lines = [
        f"## 1-beat /v1/predict, {loaded.connections} connections, on {os.cpu_count()} cores",
        "",
        markdown_table(headers, cells),
    ]
    through = results["nginx, 1 replica"][1]
    assert reference_one is not None and through is not None
    lines += [
        "",
        f"latency nginx adds at {single.connections} connection: "
        f"p50 {reference_one.p50_ms:.3f} -> {through.p50_ms:.3f} ms "
        f"({(through.p50_ms - reference_one.p50_ms) * 1000:+.0f} µs), "
        f"p99 {reference_one.p99_ms:.3f} -> {through.p99_ms:.3f} ms "
        f"({(through.p99_ms - reference_one.p99_ms) * 1000:+.0f} µs)",
        f"peak resident memory of a replica under this load: {peak_mb:.0f} MB",
        "",
    ]
    return "\n".join(lines)


# --- Dask -------------------------------------------------------------------------------------


def bench_bulk(directory: Path, args: argparse.Namespace) -> None:
    archive = directory / "archive"
    progress(f"writing a {args.bulk_beats:,}-beat Parquet archive")
    in_child_process(write_archive, archive, args.model_dir, args.bulk_beats)
    size_gb = sum(path.stat().st_size for path in archive.iterdir()) / 1e9
    scorer = load_scorer(args.model_dir)
    point = operating_point(scorer.metadata)
    rows: list[tuple[str, float, float, float]] = []

    progress("single-process loop (reference)")
    rate, peak = in_child_process(loop_reference, archive, args.model_dir)
    rows.append(("single process, a loop over the partitions", rate, peak, peak))
    for workers in (1, 2):
        progress(f"Dask LocalCluster, {workers} worker(s)")
        output = directory / f"out-{workers}"
        job = BulkJob(archive, output, args.model_dir.resolve(), point)
        with dask_client(None, workers, "4GiB") as client:
            result = run_bulk_job(client, job, scorer.input_length)
            peaks = list(client.run(_peak_rss_mb).values())
        client_peak = _peak_rss_mb()  # this process: it only plans and collects
        rows.append(
            (
                f"Dask LocalCluster, {workers} worker{'s' * (workers > 1)}",
                result.rows / result.seconds,
                max([*peaks, client_peak]),
                sum(peaks) + client_peak,
            )
        )
        shutil.rmtree(output)
    print(format_bulk(rows, args.bulk_beats, size_gb))


def write_archive(directory: Path, model_dir: Path, beats: int) -> None:
    """Files of ROWS_PER_FILE float32 beats: the model's examples, jittered, one column each."""
    directory.mkdir()
    examples = load_scorer(model_dir).metadata.examples
    templates = np.array([examples.normal, examples.abnormal], dtype=np.float32)
    rng = np.random.default_rng(0)
    names = [f"s{i:03d}" for i in range(templates.shape[1])]
    for number, first in enumerate(range(0, beats, ROWS_PER_FILE)):
        count = min(ROWS_PER_FILE, beats - first)
        with pq.ParquetWriter(directory / f"beats-{number:04d}.parquet", _schema(names)) as out:
            for start in range(0, count, ROW_GROUP_ROWS):
                size = min(ROW_GROUP_ROWS, count - start)
                block = templates[np.arange(size) % 2] + rng.normal(0, 0.01, (size, len(names)))
                block = block.astype(np.float32)
                columns = [pa.array(block[:, i]) for i in range(len(names))]
                out.write_table(pa.Table.from_arrays(columns, names=names))


def _schema(names: list[str]) -> pa.Schema:
    return pa.schema([(name, pa.float32()) for name in names])


def loop_reference(archive: Path, model_dir: Path) -> tuple[float, float]:
    """The same partitions scored one after another in one process, no Dask: beats/s, peak MB."""
    scorer = load_scorer(model_dir)
    point = operating_point(scorer.metadata)
    partitions, columns = plan_partitions(archive, scorer.input_length, ())
    output = archive.with_name("out-loop")
    output.mkdir()
    begin = time.perf_counter()
    rows = sum(
        score_partition(scorer, point, part, columns, (), output, BATCH_ROWS)[0]
        for part in partitions
    )
    seconds = time.perf_counter() - begin
    shutil.rmtree(output)
    return rows / seconds, _peak_rss_mb()


def in_child_process(function: Callable[..., T], *arguments: Any) -> T:
    """Run in a fresh process, so that each peak-memory figure is that work's own."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *arguments).result()


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def format_bulk(rows: list[tuple[str, float, float, float]], beats: int, size_gb: float) -> str:
    reference_rate = rows[0][1]
    headers = ["engine", "beats/s", "vs loop", "peak RSS of one process MB", "sum of peaks MB"]
    cells = [
        [name, f"{rate:,.0f}", f"{rate / reference_rate:.2f}x", f"{peak:,.0f}", f"{total:,.0f}"]
        for name, rate, peak, total in rows
    ]
    title = (
        f"## bulk scoring, {beats:,} beats ({size_gb:.2f} GB of Parquet), on {os.cpu_count()} cores"
    )
    return "\n".join([title, "", markdown_table(headers, cells)])


def progress(message: str) -> None:
    print(f"bench: {message} ...", file=sys.stderr, flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
