"""Swagger UI in a real browser with no internet: it loads from the service alone and runs
"Try it out" on /v1/predict."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.app.conftest import OfflineBrowser

PREDICT_OPERATION = "#operations-scoring-predict_v1_predict_post"


def test_swagger_ui_runs_the_predict_example_offline(
    serve: Callable[..., Any],
    shipped_model_dir: Path,
    offline_browser: OfflineBrowser,
    tmp_path: Path,
) -> None:
    server = serve(shipped_model_dir)
    page = offline_browser.page
    page.goto(server.base_url + "/docs")
    operation = page.locator(PREDICT_OPERATION)
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()

    status = operation.locator(".live-responses-table .response .response-col_status")
    status.wait_for()
    body = operation.locator(".live-responses-table .response-col_description pre").first
    page.screenshot(path=tmp_path / "docs.png", full_page=True)

    assert status.inner_text().strip().startswith("200")
    verdicts = [result["verdict"] for result in json.loads(body.inner_text())["results"]]
    assert verdicts == ["normal", "abnormal"]  # the shipped "both" example
    assert offline_browser.blocked == []
