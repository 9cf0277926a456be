"""Swagger UI at /docs, served from the service's own files.

FastAPI's default /docs loads Swagger UI from a CDN, which leaves a blank page on a network with
no internet (most hospital and lab networks). The `fastapi-swagger` package ships Swagger UI's
files (kept current with swagger-ui-dist 5, which reads OpenAPI 3.1); they are served here under
`/static/swagger-ui`. ReDoc is not served: it would need its own copy of its script.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

DOCS_URL = "/docs"
SWAGGER_UI_ASSETS = "/static/swagger-ui"
SWAGGER_UI_DIR = Path(str(files("fastapi_swagger") / "resources"))


def install_swagger_ui(app: FastAPI) -> None:
    """Serve Swagger UI at /docs and its files under /static/swagger-ui (before any other mount
    of /static, which would otherwise answer for them)."""
    app.mount(SWAGGER_UI_ASSETS, StaticFiles(directory=SWAGGER_UI_DIR), name="swagger-ui")

    @app.get(DOCS_URL, include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "").rstrip("/")
        assets = root + SWAGGER_UI_ASSETS
        return get_swagger_ui_html(
            openapi_url=root + (app.openapi_url or "/openapi.json"),
            title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon-32x32.png",
        )
