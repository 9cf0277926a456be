"""`ecg-serve`: run the service with uvicorn."""

from __future__ import annotations

import argparse
import logging
import logging.config
import sys

import uvicorn
from pydantic import ValidationError

from app.config import Settings
from app.inference.artifact import ArtifactError
from app.inference.registry import load_registry
from app.ops.log_config import logging_config


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
        choices=["critical", "error", "warning", "info", "debug"],
        help="log level (default: ECG_LOG_LEVEL, else info)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:  # one line per setting, without its value (it may be the key)
        for error in exc.errors():
            name = "ECG_" + "_".join(str(part) for part in error["loc"]).upper()
            print(f"ecg-serve: {name}: {error['msg']}", file=sys.stderr)
        return 2
    log_level = args.log_level or settings.log_level
    logging.config.dictConfig(logging_config(log_level))
    try:  # fail fast with one line, before any worker starts
        load_registry(settings)
    except ArtifactError as exc:
        print(f"ecg-serve: cannot load the model: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        "app.main:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_level=log_level,
        log_config=logging_config(log_level),
        access_log=False,  # app.ops.telemetry logs each request, as JSON
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
