"""`ecg-serve`: run the service with uvicorn."""

from __future__ import annotations

import argparse
import copy
import logging
import sys
from typing import Any

import uvicorn
from pydantic import ValidationError

from app.artifact import ArtifactError
from app.config import Settings
from app.scoring import load_scorer


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="ecg-serve",
        description="Serve the ECG anomaly detector over HTTP. The model directory and limits "
        "come from ECG_* environment variables (see the README).",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: %(default)s)"
    )
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: %(default)s)")
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes (default: %(default)s)"
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="log level (default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s: %(message)s")
    try:
        settings = Settings()
    except ValidationError as exc:  # one line per setting, without its value (it may be the key)
        for error in exc.errors():
            name = "ECG_" + "_".join(str(part) for part in error["loc"]).upper()
            print(f"ecg-serve: {name}: {error['msg']}", file=sys.stderr)
        return 2
    try:  # fail fast with one line, before any worker starts
        load_scorer(settings.model_dir)
    except ArtifactError as exc:
        print(f"ecg-serve: cannot load the model: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=args.log_level,
        log_config=log_config(args.log_level),
    )
    return 0


def log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging, with the service's own `app.*` loggers (the model served, reloads) on
    its handler: applied in every worker process, where this process's set-up does not reach."""
    config: dict[str, Any] = copy.deepcopy(uvicorn.config.LOGGING_CONFIG)
    config["loggers"]["app"] = {"handlers": ["default"], "level": level.upper(), "propagate": False}
    return config


if __name__ == "__main__":
    raise SystemExit(main())
