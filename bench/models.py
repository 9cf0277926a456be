"""Serving many models at once: `ecg-serve` with ten model directories in ECG_MODELS_DIR, beside
the same service with the default model alone, in one run.

    python -m bench.models [--models 10] [--model-dir DIR]

The ten are copies of the model directory (the registry loads and checks each as its own model).
Reported: time to ready, resident memory once ready and after one request to every model.
Goals: ten models under 300 MB and ready within 2 s.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import urllib.request
from pathlib import Path

from app.config import SHIPPED_MODEL_DIR
from bench.run import build_servers, comparison_table, free_port, started, tree_rss_mb

GOAL_MB, GOAL_READY_S = 300.0, 2.0
BEAT = b'{"beats": [[' + b",".join([b"0.0"] * 140) + b"]]}"


def measure(
    model_dir: Path, models_dir: Path | None, names: list[str]
) -> tuple[float, float, float]:
    """(seconds to ready, MB once ready, MB after a request to each named model)."""
    service = build_servers(model_dir, skip_naive=True, workers=1)[0]
    port = free_port()
    extra_env = {"ECG_MODELS_DIR": str(models_dir)} if models_dir else None
    with started(service, port, model_dir, extra_env) as (process, ready_s):
        ready_mb = tree_rss_mb(process.pid, "VmRSS")
        for name in names:
            path = f"/v1/models/{name}/predict" if models_dir else "/v1/predict"
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}{path}", data=BEAT,
                headers={"content-type": "application/json"},
            )  # fmt: skip
            with urllib.request.urlopen(request, timeout=10) as response:
                response.read()
        return ready_s, ready_mb, tree_rss_mb(process.pid, "VmRSS")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.models", description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=10)
    parser.add_argument("--model-dir", type=Path, default=SHIPPED_MODEL_DIR)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ecg-models-") as folder:
        names = [f"model-{i:02d}" for i in range(args.models)]
        for name in names:
            shutil.copytree(args.model_dir, Path(folder) / name)
        one = measure(args.model_dir, None, ["default"])
        many = measure(args.model_dir, Path(folder), names)
    rows: list[tuple[str, float, float | None, str]] = [
        ("time to ready s", many[0], one[0], "lower"),
        ("resident memory once ready MB", many[1], one[1], "lower"),
        ("resident memory after a request to each model MB", many[2], one[2], "lower"),
    ]
    print(comparison_table(f"{args.models + 1} models (1 worker)", rows, other="1 model"))
    print()
    print(
        f"goal: under {GOAL_MB:g} MB: {many[2]:.0f} MB, {'met' if many[2] < GOAL_MB else 'NOT met'}"
    )
    print(f"goal: ready within {GOAL_READY_S:g} s: {many[0]:.2f} s, "
          f"{'met' if many[0] < GOAL_READY_S else 'NOT met'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
