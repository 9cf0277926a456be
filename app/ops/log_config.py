"""The service's logging: every line one JSON object on standard error.

`ecg-serve` hands `logging_config()` to uvicorn, which applies it in every worker process. The
request lines come from `app.ops.telemetry` (logger `app.requests`); uvicorn's own access log is
off, as it would say the same thing again, unstructured.
"""

from __future__ import annotations

from typing import Any

from pythonjsonlogger.core import RESERVED_ATTRS

JSON_FORMATTER = "pythonjsonlogger.orjson.OrjsonFormatter"


def logging_config(level: str) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the service's loggers and uvicorn's, at `level`."""
    level = level.upper()
    on_stderr = {"handlers": ["stderr"], "level": level, "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "json": {
                "()": JSON_FORMATTER,
                "fmt": "%(levelname)s %(name)s %(message)s",
                "rename_fields": {"levelname": "level", "name": "logger"},
                "timestamp": True,
                # uvicorn repeats its messages with terminal colour codes in `color_message`
                "reserved_attrs": [*RESERVED_ATTRS, "color_message"],
            }
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
            }
        },
        "loggers": {
            "app": on_stderr,
            "uvicorn": on_stderr,
            "uvicorn.error": {"level": level},
            "uvicorn.access": {"handlers": [], "level": "WARNING", "propagate": False},
        },
    }
