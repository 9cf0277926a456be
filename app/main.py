"""The ASGI application: `uvicorn app.main:app`, or `create_app()` for a custom `Settings`."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from app.config import Settings
from app.errors import install_error_handlers
from app.openapi import build_openapi
from app.routes import router
from app.scoring import load_scorer

logger = logging.getLogger("app")

DESCRIPTION = """
Scores ECG heartbeats with an autoencoder trained on normal beats only.
A beat whose reconstruction error (mean absolute error) exceeds the model's threshold is
**abnormal**. Errors are returned as RFC 9457 problem documents.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.scorer = load_scorer(settings.model_dir, settings.inference_threads)
        logger.info("serving model %s", app.state.scorer.metadata.model_version)
        yield
        app.state.scorer = None

    app = FastAPI(
        title="ECG anomaly detection",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.scorer = None
    install_error_handlers(app)
    app.include_router(router)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None and app.state.scorer is not None:
            app.openapi_schema = build_openapi(app, app.state.scorer.metadata)
        return app.openapi_schema or build_openapi(app, None)

    app.openapi = openapi  # type: ignore[method-assign]
    return app


app = create_app()
