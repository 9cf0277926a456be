"""The page at `/` in a real browser: headless Chromium on a real server, with no internet.

Screenshots go to the test's `tmp_path`; the one of the verdicts also to `ECG_SCREENSHOT_DIR`
when it is set (the README's `docs/page.png`).
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from tests.app.conftest import OfflineBrowser, Server

BEATS = 12


def post(server: Server, path: str, body: bytes, content_type: str, accept: str) -> bytes:
    request = urllib.request.Request(
        server.base_url + path,
        data=body,
        headers={"content-type": content_type, "accept": accept},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body_read: bytes = response.read()
        return body_read


def write_held_out_csv(path: Path, reference_test_split: tuple[np.ndarray, np.ndarray]) -> bytes:
    """Seven normal and five abnormal held-out beats, shuffled, with their true labels."""
    beats, is_abnormal = reference_test_split
    chosen = np.concatenate([np.flatnonzero(~is_abnormal)[:7], np.flatnonzero(is_abnormal)[:5]])
    chosen = np.random.default_rng(7).permutation(chosen)
    lines = [",".join([f"t{i}" for i in range(beats.shape[1])] + ["label"])]
    for index in chosen:
        label = "abnormal" if is_abnormal[index] else "normal"
        lines.append(",".join([repr(float(value)) for value in beats[index]] + [label]))
    path.write_text("\n".join(lines) + "\n")
    return path.read_bytes()


def save_screenshot(page: Any, tmp_path: Path, name: str, publish: bool = False) -> None:
    """A full-page screenshot in `tmp_path`; with `publish`, also in `ECG_SCREENSHOT_DIR` (the
    README's `docs/`) when that is set."""
    image: bytes = page.screenshot(full_page=True)
    if publish:
        publish_screenshot(image, tmp_path, name)
    else:
        (tmp_path / name).write_bytes(image)


def publish_screenshot(image: bytes, tmp_path: Path, name: str) -> None:
    """`image` in `tmp_path`, and in `ECG_SCREENSHOT_DIR` (the README's `docs/`) when it is set."""
    (tmp_path / name).write_bytes(image)
    if directory := os.environ.get("ECG_SCREENSHOT_DIR"):
        Path(directory).mkdir(parents=True, exist_ok=True)
        (Path(directory) / name).write_bytes(image)


def test_page_scores_an_upload_in_a_browser_without_internet(
    serve, offline_browser: OfflineBrowser, shipped_model_dir: Path, reference_test_split, tmp_path
) -> None:
    csv_path = tmp_path / "held-out-beats.csv"
    csv_bytes = write_held_out_csv(csv_path, reference_test_split)
    server = serve(shipped_model_dir)
    api = json.loads(post(server, "/v1/predict/csv", csv_bytes, "text/csv", "application/json"))
    api_csv = post(server, "/v1/predict/csv", csv_bytes, "text/csv", "text/csv")
    expected_abnormal = sum(result["verdict"] == "abnormal" for result in api["results"])
    assert 0 < expected_abnormal < BEATS

    page = offline_browser.page
    policy_violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            policy_violations.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    page.goto(server.base_url + "/")
    assert api["model_version"] in page.locator("dl.facts").inner_text()
    plots = page.locator("div.plots img")
    assert plots.count() == 5
    page.wait_for_load_state("load")
    widths = plots.evaluate_all("images => images.map(image => image.naturalWidth)")
    assert all(width > 0 for width in widths), widths
    save_screenshot(page, tmp_path, "page-model.png")

    page.set_input_files("input[name=file]", csv_path)
    page.click("form.upload button[type=submit]")
    page.wait_for_selector("table.verdicts")
    rows = page.locator("table.verdicts tbody tr")
    assert rows.count() == BEATS
    abnormal_rows = page.locator("table.verdicts tbody tr.abnormal")
    assert abnormal_rows.count() == expected_abnormal
    verdicts = page.locator("table.verdicts tbody tr .badge").all_inner_texts()
    assert [v.lower() for v in verdicts] == [r["verdict"] for r in api["results"]]

    # abnormal rows stand out: the stylesheet loaded, under the Content-Security-Policy
    def background(row: Any) -> str:
        colour: str = row.locator("td").first.evaluate("cell => getComputedStyle(cell).background")
        return colour

    normal_row = page.locator("table.verdicts tbody tr.normal").first
    assert background(abnormal_rows.first) != background(normal_row)

    abnormal_rows.first.locator("summary").click()
    chart = abnormal_rows.first.locator("svg.beat-chart")
    chart.wait_for(state="visible")
    box = chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    assert "abnormal" in chart.locator("title").text_content()

    with page.expect_download() as download_info:
        page.click("a.download")
    download = download_info.value
    assert download.suggested_filename == "ecg-verdicts.csv"
    downloaded = tmp_path / "downloaded.csv"
    download.save_as(downloaded)
    assert downloaded.read_bytes() == api_csv

    assert offline_browser.blocked == []  # nothing tried to leave the machine
    assert policy_violations == []
    save_screenshot(page, tmp_path, "page.png", publish=True)
