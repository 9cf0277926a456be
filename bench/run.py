"""Serving benchmark: the service beside a naive reference server, under the same load.

    python -m bench.run [--duration 10] [--skip-naive]

Starts each server on a free loopback port the way a user would (`ecg-serve` for the service,
uvicorn for `bench/naive_server.py`), measures how long it takes to answer `/ready`, drives it with
wrk (one request shape at a time, bounded in time), reads its resident memory, and prints one
table with each figure's ratio to the naive server. It also measures the in-process scoring rate,
the limit the HTTP figures should be read against. Request bodies are made from the model's own
Swagger examples with a little noise, never from rows of the data set.

The machine is shared and noisy: read the ratios, which compare runs made minutes apart.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.config import SHIPPED_MODEL_DIR
from app.inference.artifact import read_metadata
from app.inference.scoring import load_scorer

BENCH_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCH_DIR.parent
WRK_SCRIPT = BENCH_DIR / "wrk_report.lua"
READY_TIMEOUT_S = 60.0
BATCH_BEATS = 1000
SOAK_CONNECTIONS = 32


@dataclass(frozen=True)
class Scenario:
    name: str
    body: Path
    content_type: str
    beats_per_request: int
    connections: int


@dataclass(frozen=True)
class LoadResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    beats_per_s: float
    errors: int


@dataclass(frozen=True)
class SoakResult:
    """A long 1-beat load in two halves, with resident memory before, between and after."""

    seconds: int
    connections: int
    requests: int
    errors: int
    rss_mb: tuple[float, float, float]


@dataclass
class ServerResult:
    name: str
    ready_s: float = 0.0
    rss_mb: float = 0.0
    peak_rss_mb: float = 0.0
    loads: dict[str, LoadResult] = field(default_factory=dict)
    soak: SoakResult | None = None


@dataclass(frozen=True)
class Server:
    name: str
    command: list[str]
    scenarios: list[str]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench: wrk not found; install it (Debian: apt-get install wrk)", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="ecg-bench-") as tmp:
        scenarios = write_scenarios(Path(tmp), args.model_dir, args.connections)
        servers = build_servers(args.model_dir, args.skip_naive, args.workers)
        results = [
            run_server(server, scenarios, args, soak=index == 0 and args.soak > 0)
            for index, server in enumerate(servers)
        ]
    print(format_table(results, scenarios))
    print()
    if results[0].soak is not None:
        print(format_soak(results[0].soak))
    print(format_in_process(args.model_dir))
    soak_errors = results[0].soak.errors if results[0].soak else 0
    load_errors = sum(load.errors for r in results for load in r.loads.values())
    return 0 if load_errors + soak_errors == 0 else 1


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per load run")
    parser.add_argument("--connections", type=int, default=16, help="connections for 1-beat load")
    parser.add_argument("--model-dir", type=Path, default=SHIPPED_MODEL_DIR)
    parser.add_argument("--skip-naive", action="store_true", help="benchmark the service only")
    parser.add_argument(
        "--soak",
        type=int,
        default=30,
        help="seconds of 1-beat load at 32 connections on the service, watching errors and "
        "memory (0: skip)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="service worker processes (ecg-serve --workers)"
    )
    return parser.parse_args(argv)


def build_servers(model_dir: Path, skip_naive: bool, workers: int) -> list[Server]:
    bin_dir = Path(sys.executable).parent
    all_scenarios = ["1 beat", "1 beat, 1 connection", "1000 beats JSON", "1000 beats float32"]
    servers = [
        Server(
            f"service ({workers} worker{'s' if workers > 1 else ''})",
            [str(bin_dir / "ecg-serve"), "--log-level", "warning", "--workers", str(workers)],
            all_scenarios,
        )
    ]
    if not skip_naive:
        naive = [
            sys.executable,
            "-m",
            "uvicorn",
            "bench.naive_server:app",
            "--log-level",
            "warning",
        ]
        servers.append(Server("naive", naive, all_scenarios[:3]))
    return servers


def write_scenarios(directory: Path, model_dir: Path, connections: int) -> dict[str, Scenario]:
    """Request bodies derived from the model's examples: normal and abnormal beats, jittered."""
    examples = read_metadata(model_dir).examples
    rng = np.random.default_rng(0)
    templates = np.array([examples.normal, examples.abnormal], dtype=np.float64)
    batch = templates[np.arange(BATCH_BEATS) % 2] + rng.normal(0, 0.01, (BATCH_BEATS, 140))
    files = {
        "one.json": json.dumps({"beats": np.round(batch[:1], 6).tolist()}).encode(),
        "batch.json": json.dumps({"beats": np.round(batch, 6).tolist()}).encode(),
        "batch.f32": batch.astype("<f4").tobytes(),
    }
    for name, content in files.items():
        (directory / name).write_bytes(content)
    json_type, binary_type = "application/json", "application/octet-stream"
    scenarios = [
        Scenario("1 beat", directory / "one.json", json_type, 1, connections),
        Scenario("1 beat, 1 connection", directory / "one.json", json_type, 1, 1),
        Scenario("1000 beats JSON", directory / "batch.json", json_type, BATCH_BEATS, 4),
        Scenario("1000 beats float32", directory / "batch.f32", binary_type, BATCH_BEATS, 4),
    ]
    return {scenario.name: scenario for scenario in scenarios}


def run_server(
    server: Server, scenarios: dict[str, Scenario], args: argparse.Namespace, soak: bool
) -> ServerResult:
    result = ServerResult(server.name)
    port = free_port()
    with started(server, port, args.model_dir) as (process, ready_s):
        result.ready_s = ready_s
        result.rss_mb = tree_rss_mb(process.pid, "VmRSS")
        for name in server.scenarios:
            print(f"bench: {server.name}: {name} ...", file=sys.stderr, flush=True)
            result.loads[name] = run_wrk(port, scenarios[name], args.duration)
        if soak:
            print(f"bench: {server.name}: soak {args.soak}s ...", file=sys.stderr, flush=True)
            result.soak = run_soak(port, scenarios["1 beat"], args.soak, process.pid)
        result.peak_rss_mb = tree_rss_mb(process.pid, "VmHWM")
    return result


def run_soak(port: int, one_beat: Scenario, seconds: int, pid: int) -> SoakResult:
    """Two halves of 1-beat load at 32 connections; memory growth shows between the halves."""
    scenario = Scenario("soak", one_beat.body, one_beat.content_type, 1, SOAK_CONNECTIONS)
    rss = [tree_rss_mb(pid, "VmRSS")]
    halves = []
    for _ in range(2):
        halves.append(run_wrk(port, scenario, max(1, seconds // 2)))
        rss.append(tree_rss_mb(pid, "VmRSS"))
    requests = round(sum(h.requests_per_s for h in halves) * max(1, seconds // 2))
    errors = sum(h.errors for h in halves)
    return SoakResult(seconds, SOAK_CONNECTIONS, requests, errors, (rss[0], rss[1], rss[2]))


def format_soak(soak: SoakResult) -> str:
    before, middle, after = soak.rss_mb
    return (
        f"soak: {soak.requests:,} 1-beat requests in {soak.seconds} s at {soak.connections} "
        f"connections, {soak.errors} errors; resident memory {before:.1f} MB before, "
        f"{middle:.1f} MB half-way, {after:.1f} MB after (second half: {after - middle:+.1f} MB)"
    )


@contextmanager
def started(
    server: Server, port: int, model_dir: Path, extra_env: dict[str, str] | None = None
) -> Iterator[tuple[subprocess.Popen[bytes], float]]:
    env = {**os.environ, "ECG_MODEL_DIR": str(model_dir), **(extra_env or {})}
    command = [*server.command, "--port", str(port)]
    # The service logs a JSON line per request, as it does in production; the lines go to a file
    # (a terminal would slow it down), shown only when the server fails to start.
    with tempfile.TemporaryFile() as log:
        begin = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=REPO_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log
        )
        try:
            try:
                ready_s = wait_until_ready(port, process, begin)
            except RuntimeError:
                log.seek(0)
                sys.stderr.write(log.read()[-4000:].decode(errors="replace"))
                raise
            yield process, ready_s
        finally:
            process.terminate()
            process.wait(timeout=20)


def wait_until_ready(port: int, process: subprocess.Popen[bytes], begin: float) -> float:
    url = f"http://127.0.0.1:{port}/ready"
    while time.perf_counter() - begin < READY_TIMEOUT_S:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.perf_counter() - begin
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"server not ready within {READY_TIMEOUT_S}s")


def run_wrk(port: int, scenario: Scenario, duration: int) -> LoadResult:
    env = {
        **os.environ,
        "BENCH_BODY": str(scenario.body),
        "BENCH_CONTENT_TYPE": scenario.content_type,
    }
    connections = scenario.connections
    command = [
        "wrk", f"--threads={min(2, connections)}", f"--connections={connections}",
        f"--duration={duration}s", "--timeout=10s", f"--script={WRK_SCRIPT}",
        f"http://127.0.0.1:{port}/v1/predict",
    ]  # fmt: skip
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    summary = json.loads(output.strip().splitlines()[-1])
    seconds = summary["duration_us"] / 1e6
    requests_per_s = summary["requests"] / seconds
    return LoadResult(
        requests_per_s=requests_per_s,
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        beats_per_s=requests_per_s * scenario.beats_per_request,
        errors=summary["non_2xx"] + summary["socket_errors"],
    )


def tree_rss_mb(pid: int, field_name: str) -> float:
    """Resident memory of a process and its children (worker processes), in MB."""
    total = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            total += int(line.split()[1]) / 1024
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return total + sum(tree_rss_mb(int(child), field_name) for child in children)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def format_table(results: list[ServerResult], scenarios: dict[str, Scenario]) -> str:
    service, naive = results[0], (results[1] if len(results) > 1 else None)
    rows: list[tuple[str, float, float | None, str]] = []
    for name in scenarios:
        load = service.loads.get(name)
        if load is None:
            continue
        other = naive.loads.get(name) if naive else None
        conns = scenarios[name].connections
        if scenarios[name].beats_per_request == 1:
            rows.append((f"{name}: requests/s ({conns} conn)", load.requests_per_s,
                         other.requests_per_s if other else None, "higher"))  # fmt: skip
        else:
            rows.append((f"{name}: beats/s ({conns} conn)", load.beats_per_s,
                         other.beats_per_s if other else None, "higher"))  # fmt: skip
        rows.append(
            (f"{name}: p50 latency ms", load.p50_ms, other.p50_ms if other else None, "lower")
        )
        rows.append(
            (f"{name}: p99 latency ms", load.p99_ms, other.p99_ms if other else None, "lower")
        )
        rows.append((f"{name}: errors", load.errors, other.errors if other else None, ""))
    rows.append(("time to ready s", service.ready_s, naive.ready_s if naive else None, "lower"))
    rows.append(
        ("resident memory after start MB", service.rss_mb, naive.rss_mb if naive else None, "lower")
    )
    rows.append(
        (
            "peak resident memory MB",
            service.peak_rss_mb,
            naive.peak_rss_mb if naive else None,
            "lower",
        )
    )
    return comparison_table(service.name, rows)


def comparison_table(
    service_name: str, rows: list[tuple[str, float, float | None, str]], other: str = "naive"
) -> str:
    """A Markdown table of (measure, service, the other, "higher"/"lower" is better) with ratios."""
    cells = [
        [label, _fmt(mine), _fmt(theirs), _ratio(mine, theirs, better)]
        for label, mine, theirs, better in rows
    ]
    return markdown_table(["measure", service_name, other, f"service vs {other}"], cells)


def markdown_table(headers: list[str], rows: list[list[str]]) -> str:
    """A Markdown table, its first column left-aligned and the figures right-aligned."""
    lines = ["| " + " | ".join(headers) + " |", "| --- |" + " ---: |" * (len(headers) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def format_in_process(model_dir: Path) -> str:
    """The limit: scoring 1,000 beats in process (normalise, ONNX, error), no HTTP, no JSON."""
    scorer = load_scorer(model_dir)
    examples = scorer.metadata.examples
    beats = np.array([examples.normal, examples.abnormal] * (BATCH_BEATS // 2), dtype=np.float32)
    best = min(_time(lambda: scorer.score(beats)) for _ in range(50))
    return f"in-process scoring, 1,000-beat batches: {BATCH_BEATS / best:,.0f} beats/s (best of 50)"


def _time(action: object) -> float:
    begin = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - begin


def _fmt(value: float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}"


def _ratio(mine: float, theirs: float | None, better: str) -> str:
    if theirs is None or not better or mine == 0 or theirs == 0:
        return ""
    factor = mine / theirs if better == "higher" else theirs / mine
    if factor < 1:  # "6.0x worse" reads better than "0.2x worse"
        return f"{1 / factor:,.1f}x worse"
    return f"{factor:,.1f}x better"


if __name__ == "__main__":
    raise SystemExit(main())
