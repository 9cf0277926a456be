"""The recordings page in a real browser: record 100 uploaded through the form of a real server,
in headless Chromium with no internet. Screenshots go to `tmp_path`, and the one of the results
card to `ECG_SCREENSHOT_DIR` when it is set (the README's `docs/recording_page.png`)."""

from __future__ import annotations

import csv
import io
import json
import urllib.request
from pathlib import Path
from typing import Any

from tests.app.conftest import OfflineBrowser, Record100
from tests.app.web.test_page_browser import publish_screenshot, save_screenshot


def served_analysis(base_url: str, record: Record100) -> dict[str, Any]:
    """POST /v1/recordings of the same files, through the standard library's HTTP client."""
    boundary = "recording-page-test"
    parts = []
    for name in ("100.hea", "100.dat", "100.atr"):
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + (record.directory / name).read_bytes()
            + b"\r\n"
        )
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    request = urllib.request.Request(
        base_url + "/v1/recordings",
        data=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        document: dict[str, Any] = json.loads(response.read())
    return document


def test_recording_page_shows_record_100_whole_and_beat_by_beat(
    serve, offline_browser: OfflineBrowser, shipped_model_dir: Path, record_100: Record100, tmp_path
) -> None:
    server = serve(shipped_model_dir)
    api = served_analysis(server.base_url, record_100)
    page = offline_browser.page
    page.goto(server.base_url + "/recordings")
    page.set_input_files(
        "input#files",
        [str(record_100.directory / name) for name in ("100.hea", "100.dat", "100.atr")],
    )
    # 30 minutes are analysed and drawn: give a shared, busy machine time
    with page.expect_navigation(timeout=180_000):
        page.click("form.upload button[type=submit]", no_wait_after=True)
    page.wait_for_selector("#results")

    summary = page.locator("#results .summary").inner_text()
    assert (
        f"{api['summary']['n_beats']:,}" in summary
        and f"{api['summary']['n_abnormal']:,}" in summary
    )
    assert "lead MLII" in page.locator("#results p.source").inner_text()
    warning = page.locator("p.warning").first.inner_text()
    assert "does not describe this person" in warning
    assert "sensitivity 1.0000" in page.locator("p.annotations").inner_text()
    # the overview, the signal a minute a row with every R peak marked, and the flagged beats
    assert page.locator("svg.overview-chart polyline.heart-rate").count() == 1
    assert page.locator("svg.strip-chart").count() == 31  # 30 min 3 s
    assert page.locator("svg.strip-chart path.peak").count() == api["summary"]["n_beats"]
    charts = page.locator("figure.flagged-beat svg.beat-chart")
    assert charts.count() == min(40, api["summary"]["n_abnormal"])
    assert charts.first.locator("polyline.reconstruction").count() == 1

    with page.expect_download() as download_info:
        page.click("a.download")
    rows = list(csv.DictReader(io.StringIO(Path(download_info.value.path()).read_text())))
    assert [row["verdict"] for row in rows] == [beat["verdict"] for beat in api["beats"]]
    assert offline_browser.blocked == []
    save_screenshot(page, tmp_path, "recording_page_full.png")
    publish_screenshot(page.locator("#results").screenshot(), tmp_path, "recording_page.png")


def test_recording_page_scores_with_the_model_picked_and_shows_its_baseline(
    serve,
    offline_browser: OfflineBrowser,
    shipped_model_dir: Path,
    record_100: Record100,
    record_100_baseline: Path,
) -> None:
    server = serve(shipped_model_dir, env={"ECG_MODELS_DIR": str(record_100_baseline)})
    page = offline_browser.page
    page.goto(server.base_url + "/recordings")
    options = page.locator("select#model option").all_inner_texts()
    assert options == ["baseline-100", "ecg5000 (default)"]
    page.select_option("select#model", "baseline-100")
    page.set_input_files(
        "input#files", [str(record_100.directory / n) for n in ("100.hea", "100.dat")]
    )
    with page.expect_navigation(timeout=180_000):
        page.click("form.upload button[type=submit]", no_wait_after=True)
    page.wait_for_selector("#results")
    assert "baseline-100" in page.locator("select#model option[selected]").inner_text()
    assert "baseline fitted on the recording itself" in page.locator("#results").inner_text()
    assert page.locator("p.warning").count() == 0  # the baseline describes this person
    assert page.locator("svg.overview-chart rect.baseline").count() == 1
    assert "150 s of this recording" in page.locator("p.baseline-note").inner_text()
