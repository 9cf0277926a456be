"""Recordings benchmark: POST /v1/recordings on MIT-BIH record 100 beside the naive reference.

    python -m bench.recordings [--data-dir ../shared/data/mitdb] [--requests 5]

Starts the service the way `ecg-serve` does (bench.run's helpers), uploads the record's .hea, .dat
and .atr as the multipart `files` field once to warm up and then N times, timing each request while
the server's resident memory is sampled. Then runs the naive reference (`bench/naive_recordings.py`:
wfdb, NeuroKit2 and the Keras model by hand, in one process of its own) once to warm up and N times,
its memory sampled the same way over its whole life, and prints one table with both and the ratios.
Goal: the record read, segmented and scored over HTTP in under 2 s, the server under 300 MB.
With `--holter-hours 24`, it also writes a 24-hour two-lead record by repeating record 100 (in a
temporary directory) and runs `ecg-score` on it: its peak memory (goal under 500 MB), wall time
and beats per second.

The machine is shared and noisy: read the ratios, which compare runs made a minute apart.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx2
import numpy as np
import wfdb

from app.config import SHIPPED_MODEL_DIR
from bench.run import REPO_ROOT, build_servers, comparison_table, free_port, started, tree_rss_mb

DEFAULT_DATA_DIR = REPO_ROOT.parent / "shared" / "data" / "mitdb"
RECORD_EXTENSIONS = (".hea", ".dat", ".atr")
SAMPLE_EVERY_S = 0.01
GOAL_SECONDS = 2.0
GOAL_MB = 300.0
GOAL_HOLTER_MB = 500.0


@dataclass(frozen=True)
class Timing:
    seconds: list[float]
    peak_rss_mb: float
    beats: int
    start_rss_mb: float = 0.0  # the service's once ready (the naive reference is no server)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    record = args.data_dir / args.record
    print(f"bench: service: {args.requests} uploads of {record} ...", file=sys.stderr)
    service = time_service(record, args.requests, args.model_dir)
    print(f"bench: naive: {args.requests} runs on {record} ...", file=sys.stderr)
    naive = time_naive(record, args.requests, args.model_dir)
    print(format_table(service, naive))
    print()
    median, peak = statistics.median(service.seconds), service.peak_rss_mb
    print(f"goal: record {args.record} over HTTP under {GOAL_SECONDS:g} s: median {median:.2f} s, "
          f"{verdict(median < GOAL_SECONDS)}")  # fmt: skip
    print(f"goal: server under {GOAL_MB:g} MB: peak {peak:.0f} MB, {verdict(peak < GOAL_MB)}")
    if args.holter_hours:
        print(f"bench: ecg-score on a {args.holter_hours:g}-hour record ...", file=sys.stderr)
        holter = time_holter(record, args.holter_hours)
        seconds, peak_mb = holter.seconds[0], holter.peak_rss_mb
        print(f"ecg-score, {args.holter_hours:g} h two-lead 360 Hz record (record {args.record} "
              f"repeated): {seconds:.1f} s, {holter.beats:,} beats, "
              f"{holter.beats / seconds:,.0f} beats/s, peak {peak_mb:.0f} MB; "
              f"goal under {GOAL_HOLTER_MB:g} MB: {verdict(peak_mb < GOAL_HOLTER_MB)}")  # fmt: skip
    return 0


def verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.recordings", description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    parser.add_argument("--record", default="100", help="WFDB record name in --data-dir")
    parser.add_argument("--requests", type=int, default=5, help="timed requests after a warm-up")
    parser.add_argument("--model-dir", type=Path, default=SHIPPED_MODEL_DIR)
    parser.add_argument(
        "--holter-hours", type=float, default=0, help="also ecg-score a record this long (24)"
    )
    return parser.parse_args(argv)


def time_service(record: Path, requests: int, model_dir: Path) -> Timing:
    files = [
        ("files", (record.name + ext, (record.parent / (record.name + ext)).read_bytes()))
        for ext in RECORD_EXTENSIONS
    ]
    service = build_servers(model_dir, skip_naive=True, workers=1)[0]
    port = free_port()
    with (
        started(service, port, model_dir) as (process, _),
        httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client,
    ):

        def upload() -> int:
            response = client.post("/v1/recordings", files=files)
            response.raise_for_status()
            summary = response.json()["summary"]
            return int(summary["n_beats"] - summary["n_unscored"])

        start_rss_mb = tree_rss_mb(process.pid, "VmRSS")
        upload()  # warm-up
        with peak_rss_sampled(process.pid) as peak:
            seconds, beats = timed(upload, requests)
    return Timing(seconds, peak[0], beats, start_rss_mb)


def time_naive(record: Path, runs: int, model_dir: Path) -> Timing:
    command = [sys.executable, "-m", "bench.naive_recordings", str(record), "--runs", str(runs)]
    command += ["--model-dir", str(model_dir)]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    with peak_rss_sampled(process.pid) as peak:
        output, errors = process.communicate()
    if process.returncode != 0:
        sys.stderr.write(errors[-4000:])
        raise RuntimeError(f"naive reference exited with {process.returncode}")
    result = json.loads(output.strip().splitlines()[-1])
    return Timing(result["seconds"], peak[0], result["beats"])


def time_holter(record: Path, hours: float) -> Timing:
    """`ecg-score` on `record` repeated to `hours`, written as WFDB format 212 like the original."""
    source = wfdb.rdrecord(str(record), physical=False)
    repeats = math.ceil(hours * 3600 / (source.sig_len / source.fs))
    with tempfile.TemporaryDirectory(prefix="ecg-holter-") as folder:
        wfdb.wrsamp(
            "holter", fs=source.fs, units=source.units, sig_name=source.sig_name,
            d_signal=np.tile(source.d_signal, (repeats, 1)), fmt=source.fmt,
            adc_gain=source.adc_gain, baseline=source.baseline, write_dir=folder,
        )  # fmt: skip
        command = [str(Path(sys.executable).parent / "ecg-score"), f"{folder}/holter.hea"]
        command += ["--output", f"{folder}/beats.csv"]
        begin = time.perf_counter()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        with peak_rss_sampled(process.pid) as peak:
            output, _ = process.communicate()
        seconds = time.perf_counter() - begin
        if process.returncode != 0:
            raise RuntimeError(f"ecg-score exited with {process.returncode}")
        with open(f"{folder}/beats.csv") as beats:
            count = sum(1 for _ in beats) - 1
    del output
    return Timing([seconds], peak[0], count)


def timed(action: Callable[[], int], repeats: int) -> tuple[list[float], int]:
    """Wall time of each call, and what the last call returned."""
    seconds, result = [], 0
    for _ in range(repeats):
        begin = time.perf_counter()
        result = action()
        seconds.append(time.perf_counter() - begin)
    return seconds, result


@contextmanager
def peak_rss_sampled(pid: int) -> Iterator[list[float]]:
    """The largest resident memory (MB) of a process and its children, read every 10 ms until the
    block ends or the process exits; the one-element list holds it."""
    peak = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                peak[0] = max(peak[0], tree_rss_mb(pid, "VmRSS"))
            except OSError:  # the process has exited
                return
            done.wait(SAMPLE_EVERY_S)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()


def format_table(service: Timing, naive: Timing) -> str:
    rows: list[tuple[str, float, float | None, str]] = [
        ("record wall time, median s", statistics.median(service.seconds),
         statistics.median(naive.seconds), "lower"),
        ("record wall time, best s", min(service.seconds), min(naive.seconds), "lower"),
        ("resident memory once ready MB", service.start_rss_mb, None, ""),
        ("peak resident memory MB (sampled every 10 ms)", service.peak_rss_mb,
         naive.peak_rss_mb, "lower"),
        ("beats scored", service.beats, naive.beats, ""),
    ]  # fmt: skip
    return comparison_table("service (1 worker, over HTTP)", rows)


if __name__ == "__main__":
    raise SystemExit(main())
