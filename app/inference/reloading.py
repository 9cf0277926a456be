"""Loading the model directory again while serving: `POST /v1/model/reload` and SIGHUP.

The new model is loaded and checked in a worker thread while the current one keeps serving, then
swapped in with one assignment to `app.state.registry`: a request in flight keeps the scorer it
already took. A directory that cannot be served raises `ArtifactError` and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI

from app.config import Settings
from app.inference.artifact import ArtifactError
from app.inference.registry import ModelRegistry, load_registry
from app.inference.scoring import Scorer
from app.ops.telemetry import Telemetry

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reloaded:
    model_version: str
    previous_model_version: str | None
    models: list[str]


async def reload_model(app: FastAPI, trigger: str) -> Reloaded:
    """Load `ECG_MODEL_DIR` (and the models of `ECG_MODELS_DIR`) again and serve them, and log
    the outcome under `trigger`; raises `ArtifactError`, leaving the old models serving."""
    settings: Settings = app.state.settings
    telemetry: Telemetry = app.state.telemetry
    async with app.state.reload_lock:  # one reload at a time, so `previous` is the one replaced
        previous_registry: ModelRegistry | None = app.state.registry
        previous = None if previous_registry is None else previous_registry.default
        try:
            registry = await asyncio.to_thread(load_registry, settings)
        except ArtifactError as exc:
            telemetry.reloads.labels("failure").inc()
            logger.error(
                "%s: model reload failed, still serving %s: %s", trigger, _version(previous), exc
            )
            raise
        app.state.registry = registry
        scorer = registry.default
        telemetry.reloads.labels("success").inc()
        telemetry.model_loaded(scorer.metadata)
        app.openapi_schema = None  # its Swagger examples come from the model's metadata
    reloaded = Reloaded(scorer.metadata.model_version, _version(previous), registry.names)
    logger.info(
        "%s: serving model %s (was %s)",
        trigger,
        reloaded.model_version,
        reloaded.previous_model_version,
    )
    return reloaded


def _version(scorer: Scorer | None) -> str | None:
    return None if scorer is None else scorer.metadata.model_version


def reload_on_sighup(app: FastAPI) -> Callable[[], None]:
    """Make SIGHUP reload the model; returns the function that puts the old handler back.

    Where the running loop cannot take signal handlers (not the main thread, as under a test
    client, or not a Unix), nothing is installed and the returned function does nothing.
    """
    sighup = getattr(signal, "SIGHUP", None)
    if sighup is None:
        return lambda: None
    loop = asyncio.get_running_loop()
    previous_handler = signal.getsignal(sighup)
    reloads: set[asyncio.Task[None]] = set()  # held, so that a running reload is not collected

    def on_sighup() -> None:
        task = loop.create_task(_reload_and_log(app))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    try:
        loop.add_signal_handler(sighup, on_sighup)
    except (NotImplementedError, RuntimeError, ValueError) as exc:
        logger.debug("SIGHUP does not reload the model here: %s", exc)
        return lambda: None

    def restore() -> None:
        loop.remove_signal_handler(sighup)
        if previous_handler is not None:
            signal.signal(sighup, previous_handler)

    return restore


async def _reload_and_log(app: FastAPI) -> None:
    """The reload SIGHUP schedules: its outcome is logged, nobody awaits it."""
    try:
        await reload_model(app, "SIGHUP")
    except ArtifactError:
        pass  # logged by reload_model
    except Exception:
        logger.exception("SIGHUP: model reload failed")
