"""Beat charts drawn on the server (app.web.charts): the model's real reconstructions."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from app.api.schemas import predict_response_body
from app.inference.scoring import load_scorer, operating_point
from app.web.charts import beat_chart_svg, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def explained(
    shipped_model_dir: Path, reference_test_split: tuple[np.ndarray, np.ndarray]
) -> list[tuple[list[float], dict]]:
    """(beat, explained result) for the first held-out normal beat and abnormal beat."""
    beats, is_abnormal = reference_test_split
    chosen = beats[[int(np.argmin(is_abnormal)), int(np.argmax(is_abnormal))]]
    scorer = load_scorer(shipped_model_dir)
    point = operating_point(scorer.metadata)
    document = predict_response_body(scorer.metadata, scorer.score(chosen), point, explain=True)
    return list(zip(chosen.tolist(), document["results"], strict=True))


def chart(beat: list[float], result: dict, threshold: float = 0.012) -> str:
    return beat_chart_svg(
        beat,
        result["reconstruction"],
        result["sample_errors"],
        result["verdict"],
        index=result["index"],
        error=result["reconstruction_error"],
        threshold=threshold,
    )


def points_of(element: ET.Element) -> list[tuple[float, float]]:
    pairs = element.attrib["points"].split()
    return [(float(x), float(y)) for x, y in (pair.split(",") for pair in pairs)]


def test_chart_is_svg_with_beat_reconstruction_and_error_of_every_sample(explained) -> None:
    beat, result = explained[1]
    root = ET.fromstring(chart(beat, result))
    assert root.tag == f"{SVG}svg"
    assert root.attrib["role"] == "img"
    assert root.attrib["viewBox"].startswith("0 0 ")
    beat_line = root.find(f"{SVG}polyline[@class='beat']")
    reconstruction_line = root.find(f"{SVG}polyline[@class='reconstruction']")
    error_area = root.find(f"{SVG}polygon[@class='error']")
    assert beat_line is not None and reconstruction_line is not None and error_area is not None
    assert len(points_of(beat_line)) == len(points_of(reconstruction_line)) == 140
    # the shaded error runs along the beat and back along the reconstruction: the gap between
    assert points_of(error_area) == points_of(beat_line) + points_of(reconstruction_line)[::-1]
    assert reconstruction_line.attrib["stroke-dasharray"]


def test_chart_draws_the_beat_where_its_values_are(explained) -> None:
    beat, result = explained[0]
    beat_line = ET.fromstring(chart(beat, result)).find(f"{SVG}polyline[@class='beat']")
    xs, ys = zip(*points_of(beat_line), strict=True)
    # SVG's y grows downwards: the highest sample is drawn topmost, the lowest bottommost
    assert int(np.argmin(ys)) == int(np.argmax(beat))
    assert int(np.argmax(ys)) == int(np.argmin(beat))
    assert list(xs) == sorted(xs) and len(set(xs)) == 140


def test_chart_title_and_text_name_the_verdict_and_error(explained) -> None:
    for beat, result in explained:
        root = ET.fromstring(chart(beat, result))
        title = root.find(f"{SVG}title")
        assert title is not None and title.text is not None
        assert title.text.startswith(f"Beat {result['index']}: {result['verdict']}, error ")
        assert f"{result['reconstruction_error']:.4g}" in title.text
        verdict = root.find(f"{SVG}text/{SVG}tspan[@class='verdict verdict-{result['verdict']}']")
        assert verdict is not None and verdict.text == result["verdict"]
    assert {result["verdict"] for _, result in explained} == {"normal", "abnormal"}


def test_chart_marks_the_sample_with_the_largest_error(explained) -> None:
    beat, result = explained[1]
    worst = int(np.argmax(result["sample_errors"]))
    assert f"largest error: sample {worst}<" in chart(beat, result)


def test_chart_has_no_style_or_script_for_a_strict_content_security_policy(explained) -> None:
    svg = chart(*explained[1])
    assert "style=" not in svg
    assert "<style" not in svg and "<script" not in svg
    root = ET.fromstring(svg)
    # classes for the page's CSS, and presentation attributes as a fallback without it
    for name in ("beat", "reconstruction", "error"):
        element = root.find(f".//*[@class='{name}']")
        assert element is not None
        assert "stroke" in element.attrib or "fill" in element.attrib


def test_chart_coordinates_have_at_most_one_decimal_and_stay_small(explained) -> None:
    svg = chart(*explained[1])
    coordinates = " ".join(re.findall(r' (?:points|d|x\d?|y\d?)="([^"]*)"', svg))
    assert re.search(r"\d\.\d", coordinates)  # the pattern below would catch a longer one
    assert not re.search(r"\d\.\d{2,}", coordinates)
    assert len(svg.encode()) < 8_000


def test_chart_escapes_its_text() -> None:
    svg = beat_chart_svg(
        [0.0, 1.0, 0.5], [0.1, 0.9, 0.5], [0.1, 0.1, 0.0], "<b>&", index=1, error=0.1, threshold=1
    )
    ET.fromstring(svg)  # well-formed: the text was escaped
    assert "<b>" not in svg and "&lt;b&gt;&amp;" in svg


def test_chart_of_a_flat_beat_still_has_an_axis() -> None:
    svg = beat_chart_svg([2.0] * 5, [2.0] * 5, [0.0] * 5, "normal", index=0, error=0, threshold=1)
    ys = {y for _, y in points_of(ET.fromstring(svg).find(f"{SVG}polyline[@class='beat']"))}
    assert len(ys) == 1 and all(np.isfinite(y) for y in ys)


def test_chart_refuses_series_of_different_lengths() -> None:
    with pytest.raises(ValueError, match="same length"):
        beat_chart_svg([0.0, 1.0], [0.0], [0.0, 1.0], "normal", index=0, error=0, threshold=1)


@pytest.mark.parametrize(
    "low, high, count, expected",
    [
        (-4.2, 2.1, 5, [-6, -4, -2, 0, 2, 4]),
        (0, 139, 7, [0, 20, 40, 60, 80, 100, 120, 140]),
        (0.013, 0.021, 5, [0.012, 0.014, 0.016, 0.018, 0.02, 0.022]),
    ],
)
def test_ticks_are_round_numbers_spanning_the_range(low, high, count, expected) -> None:
    assert nice_ticks(low, high, count) == pytest.approx(expected)
