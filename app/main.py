"""The ASGI application: `uvicorn app.main:app`, or `create_app()` for a custom `Settings`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from app.api.docs import DOCS_URL, install_swagger_ui
from app.api.errors import install_error_handlers
from app.api.inference_protocol import inference_protocol_router
from app.api.middleware import ApiKeyRequired, BodyDeadline, BodySizeLimit, StartupFailureAsOneLine
from app.api.openapi import build_openapi
from app.api.recordings import recordings_router
from app.api.routes import raw_router, router
from app.config import Settings
from app.inference.artifact import ModelMetadata
from app.inference.registry import ModelRegistry, load_registry
from app.inference.reloading import reload_on_sighup
from app.ops.telemetry import RequestTelemetry, Telemetry
from app.web.page import STATIC_DIR, page_router
from app.web.recording_page import recording_page_router

logger = logging.getLogger("app")

DESCRIPTION = """
Scores ECG heartbeats with an autoencoder trained on normal beats only.
A beat whose reconstruction error (mean absolute error) exceeds the model's threshold is
**abnormal**. Errors are returned as RFC 9457 problem documents.
"""
OPERATIONS_PATHS = ("/health", "/ready", "/metrics", "/v2/health/live", "/v2/health/ready")
STATIC_URL = "/static"  # the page's files and Swagger UI's (app.api.docs), open to all


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # an ArtifactError here ends start-up with one log line (StartupFailureAsOneLine)
        app.state.registry = load_registry(settings)
        telemetry.model_loaded(app.state.registry.default.metadata)
        logger.info(
            "serving models %s (default %s)",
            ", ".join(app.state.registry.names),
            app.state.registry.default_name,
        )
        restore_sighup = reload_on_sighup(app)
        try:
            yield
        finally:
            restore_sighup()
            app.state.registry = None

    app = FastAPI(
        title="ECG anomaly detection",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # app.api.docs serves Swagger UI from local files instead of a CDN
        redoc_url=None,
    )
    telemetry = Telemetry()
    app.state.settings = settings
    app.state.telemetry = telemetry
    app.state.registry = None
    app.state.reload_lock = asyncio.Lock()
    install_error_handlers(app)
    app.include_router(raw_router)
    app.include_router(recordings_router)
    app.include_router(router)
    app.include_router(page_router)
    app.include_router(recording_page_router)
    app.include_router(inference_protocol_router)
    install_swagger_ui(app)
    app.mount(STATIC_URL, StaticFiles(directory=STATIC_DIR), name="static")

    # the last added runs first: telemetry, the key, the body size, then the route
    app.add_middleware(BodyDeadline, timeout_s=settings.body_timeout_s)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    open_paths = open_paths_of(app)
    if settings.api_key is not None:
        app.add_middleware(
            ApiKeyRequired,
            api_key=settings.api_key.get_secret_value(),
            open_paths=open_paths,
            open_prefixes=(f"{STATIC_URL}/",),
        )
    app.add_middleware(StartupFailureAsOneLine)
    # outermost, so that it sees every request
    app.add_middleware(
        RequestTelemetry,
        telemetry=telemetry,
        route_paths=route_paths_of(app),
        static_url=STATIC_URL,
    )

    def openapi() -> dict[str, Any]:
        registry: ModelRegistry | None = app.state.registry
        if app.openapi_schema is None and registry is not None:
            app.openapi_schema = _openapi(registry.default.metadata, registry.names)
        return app.openapi_schema or _openapi(None)

    def _openapi(metadata: ModelMetadata | None, names: list[str] | None = None) -> dict[str, Any]:
        key_required = settings.api_key is not None
        return build_openapi(app, metadata, open_paths if key_required else None, names)

    app.openapi = openapi  # type: ignore[method-assign]
    return app


def route_paths_of(app: FastAPI) -> frozenset[str]:
    """The path (template) of every route, read from the routers included above."""
    routers = (
        raw_router,
        recordings_router,
        router,
        page_router,
        recording_page_router,
        inference_protocol_router,
    )
    paths = {route.path for each in routers for route in each.routes if isinstance(route, APIRoute)}
    return frozenset(paths) | open_paths_of(app)


def open_paths_of(app: FastAPI) -> frozenset[str]:
    """What stays open when ECG_API_KEY is set: health, readiness, metrics and the API
    documentation, which Swagger UI needs to load before a user can authorise in it (its files
    are under STATIC_URL, open too)."""
    docs = (DOCS_URL, app.openapi_url)
    return frozenset(OPERATIONS_PATHS) | {path for path in docs if path}


app = create_app()
