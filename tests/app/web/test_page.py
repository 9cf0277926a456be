"""The page at `/` through the app's lifespan, on the shipped model and real held-out beats."""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app

CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
VOID_ELEMENTS = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "wbr"}


@dataclass
class Node:
    """An element of a parsed page: enough of a DOM to find rows, links and charts."""

    tag: str
    attrs: dict[str, str]
    children: list[Node | str] = field(default_factory=list)

    def iter(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            if isinstance(child, Node):
                yield from child.iter()

    def find_all(self, tag: str, class_: str | None = None) -> list[Node]:
        return [
            node
            for node in self.iter()
            if node.tag == tag and (class_ is None or class_ in node.classes)
        ]

    def find(self, tag: str, class_: str | None = None) -> Node:
        found = self.find_all(tag, class_)
        assert found, f"no <{tag} class={class_!r}>"
        return found[0]

    @property
    def classes(self) -> set[str]:
        return set(self.attrs.get("class", "").split())

    @property
    def text(self) -> str:
        parts = (c if isinstance(c, str) else c.text for c in self.children)
        return " ".join("".join(parts).split())


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {name: value or "" for name, value in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID_ELEMENTS:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {name: value or "" for name, value in attrs}))

    def handle_endtag(self, tag: str) -> None:
        while len(self.stack) > 1 and self.stack.pop().tag != tag:
            pass

    def handle_data(self, data: str) -> None:
        self.stack[-1].children.append(data)


def parse(html: str) -> Node:
    builder = TreeBuilder()
    builder.feed(html)
    return builder.root


def beats_csv(beats: np.ndarray, labels: list[str] | None = None, header: bool = True) -> str:
    """Beats as CSV rows, every float32 sample written exactly."""
    names = [f"t{i}" for i in range(beats.shape[1])] + (["label"] if labels else [])
    lines = [",".join(names)] if header else []
    for row, beat in enumerate(beats):
        cells = [repr(float(value)) for value in beat] + ([labels[row]] if labels else [])
        lines.append(",".join(cells))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def held_out(reference_test_split: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """Five normal and four abnormal held-out beats, interleaved, with their true labels."""
    beats, is_abnormal = reference_test_split
    normal, abnormal = np.flatnonzero(~is_abnormal)[:5], np.flatnonzero(is_abnormal)[:4]
    order = [normal[0], abnormal[0], normal[1], normal[2], abnormal[1], abnormal[2], normal[3]]
    order += [abnormal[3], normal[4]]
    return beats[order], ["abnormal" if is_abnormal[i] else "normal" for i in order]


@pytest.fixture(scope="module")
def api_results(client: TestClient, held_out) -> list[dict]:
    beats, _ = held_out
    response = client.post("/v1/predict", json={"beats": beats.tolist()})
    assert response.status_code == 200
    return response.json()["results"]


@pytest.fixture(scope="module")
def scored_page(client: TestClient, held_out):
    """The page after uploading the held-out beats as a labelled CSV file."""
    beats, labels = held_out
    upload = {"file": ("held-out.csv", beats_csv(beats, labels).encode(), "text/csv")}
    return client.post("/", files=upload, data={"beat": ""})


def rows_of(page: Node) -> list[Node]:
    return page.find("table", "verdicts").find("tbody").find_all("tr")


def problems_of(html: str) -> list[str]:
    return [item.text for item in parse(html).find("div", "problems").find_all("li")]


def post_text(client: TestClient, text: str, **fields: str):
    return client.post(
        "/", files={"file": ("", b"", "application/octet-stream")}, data={"beat": text, **fields}
    )


def test_page_shows_the_model_version_threshold_rule_and_metrics(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    model = client.get("/v1/model").json()
    facts = parse(response.text).find("dl", "facts").text
    assert model["model_version"] in facts
    assert f"{model['threshold']:.5f}" in facts
    assert model["threshold_rule_description"] in facts
    assert f"{model['training_errors']['mean']:.5f}" in facts
    metrics = parse(response.text).find("table", "metrics").text
    for name in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert f"{model['metrics'][name]:.3f}" in metrics
    confusion = parse(response.text).find("table", "confusion").text
    for count in model["metrics"]["confusion_matrix"].values():
        assert str(count) in confusion


def test_page_shows_every_training_plot_and_each_loads(client: TestClient) -> None:
    images = parse(client.get("/").text).find("div", "plots").find_all("img")
    sources = [image.attrs["src"] for image in images]
    # relative: the page works behind a path prefix too
    assert all(source.startswith("v1/model/plots/") for source in sources)
    assert "v1/model/plots/loss.png" in sources
    assert len(sources) == 5
    for source in sources:
        plot = client.get("/" + source)
        assert plot.status_code == 200
        assert plot.headers["content-type"] == "image/png"
        assert plot.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_page_loads_only_its_own_stylesheet_and_no_script(client: TestClient) -> None:
    page = parse(client.get("/").text)
    stylesheets = [n.attrs["href"] for n in page.find_all("link") if n.attrs["rel"] == "stylesheet"]
    assert stylesheets == ["static/page.css"]
    assert client.get("/" + stylesheets[0]).headers["content-type"].startswith("text/css")
    assert page.find_all("script") == [] and page.find_all("style") == []
    assert not [node for node in page.iter() if "style" in node.attrs]


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_page_is_served_with_a_strict_content_security_policy(
    client: TestClient, method: str
) -> None:
    response = client.request(method, "/", data={"beat": "1 2 3"} if method == "POST" else None)
    assert response.headers["content-security-policy"] == CSP
    assert response.headers["x-content-type-options"] == "nosniff"


def test_page_form_posts_the_file_text_and_resample_fields(client: TestClient) -> None:
    form = parse(client.get("/").text).find("form", "upload")
    assert (form.attrs["method"], form.attrs["enctype"]) == ("post", "multipart/form-data")
    inputs = {node.attrs.get("name"): node.attrs.get("type") for node in form.find_all("input")}
    assert inputs == {"file": "file", "resample": "checkbox"}
    assert form.find("textarea").attrs["name"] == "beat"


def test_page_gives_a_row_per_beat_with_the_verdicts_of_the_api(
    scored_page, api_results, held_out
) -> None:
    assert scored_page.status_code == 200
    rows = rows_of(parse(scored_page.text))
    assert len(rows) == len(api_results) == 9
    _, labels = held_out
    for row, result, label in zip(rows, api_results, labels, strict=True):
        cells = [cell.text for cell in row.find_all("td")]
        assert cells[0] == str(result["index"])
        assert cells[1] == label
        assert cells[2] == f"{result['reconstruction_error']:.5f}"
        assert row.find("span", "badge").text == result["verdict"]


def test_page_marks_abnormal_beats(scored_page, api_results) -> None:
    rows = rows_of(parse(scored_page.text))
    abnormal = [row for row in rows if "abnormal" in row.classes]
    expected = [result["index"] for result in api_results if result["verdict"] == "abnormal"]
    assert [int(row.find("td").text) for row in abnormal] == expected
    assert 0 < len(expected) < len(rows)  # the held-out beats give both verdicts
    assert all("badge-abnormal" in row.find("span", "badge").classes for row in abnormal)


def test_page_summarises_beats_abnormal_and_the_threshold(
    client: TestClient, scored_page, api_results
) -> None:
    model = client.get("/v1/model").json()
    stats = {
        stat.find("span", "name").text: stat.find("span", "value").text
        for stat in parse(scored_page.text).find("div", "summary").find_all("div", "stat")
    }
    abnormal = sum(result["verdict"] == "abnormal" for result in api_results)
    assert stats["beats"] == str(len(api_results))
    assert stats["abnormal"] == str(abnormal)
    assert stats["normal"] == str(len(api_results) - abnormal)
    threshold_name = f"threshold: {model['threshold_rule_description']}"
    assert stats[threshold_name] == f"{model['threshold']:.5f}"
    assert "held-out.csv" in parse(scored_page.text).find("p", "source").text


def test_page_download_is_exactly_the_csv_of_the_api(
    client: TestClient, scored_page, held_out
) -> None:
    beats, labels = held_out
    api_csv = client.post(
        "/v1/predict/csv",
        content=beats_csv(beats, labels),
        headers={"content-type": "text/csv", "accept": "text/csv"},
    )
    link = parse(scored_page.text).find("a", "download")
    assert link.attrs["download"] == "ecg-verdicts.csv"
    assert link.text == "Download results (CSV)"
    prefix, _, encoded = link.attrs["href"].partition(",")
    assert prefix == "data:text/csv;base64"
    assert base64.b64decode(encoded).decode() == api_csv.text
    assert api_csv.text.splitlines()[0] == "index,reconstruction_error,is_anomaly,verdict,label"


def test_page_shows_a_chart_of_each_beat_and_its_reconstruction(
    scored_page, api_results, held_out
) -> None:
    rows = rows_of(parse(scored_page.text))
    svgs = [
        ET.fromstring(svg.split("</summary>")[1].split("</details>")[0])
        for svg in scored_page.text.split("<details>")[1:]
    ]
    assert len(svgs) == len(rows) == len(api_results)
    beats, _ = held_out
    for row, svg, result in zip(rows, svgs, api_results, strict=True):
        assert row.find("details").find("summary").text.startswith(f"Beat {result['index']}")
        title = svg.find("{http://www.w3.org/2000/svg}title")
        assert title is not None and title.text is not None
        assert title.text.startswith(f"Beat {result['index']}: {result['verdict']}, error")
        for name in ("beat", "reconstruction"):
            line = svg.find(f"{{http://www.w3.org/2000/svg}}polyline[@class='{name}']")
            assert line is not None and len(line.attrib["points"].split()) == beats.shape[1]


@pytest.mark.parametrize(
    "separator", [" ", "\n", "\t", ", "], ids=["spaces", "lines", "tabs", "commas"]
)
def test_page_scores_a_pasted_beat(client: TestClient, held_out, api_results, separator) -> None:
    beats, _ = held_out
    text = separator.join(repr(float(value)) for value in beats[1])
    response = post_text(client, text)
    assert response.status_code == 200, response.text
    rows = rows_of(parse(response.text))
    assert len(rows) == 1
    assert rows[0].find("span", "badge").text == api_results[1]["verdict"]
    source = parse(response.text).find("p", "source").text
    assert "pasted" in source


def test_page_scores_pasted_csv_rows(client: TestClient, held_out, api_results) -> None:
    beats, _ = held_out
    response = post_text(client, beats_csv(beats[:3], header=False))
    assert response.status_code == 200
    verdicts = [row.find("span", "badge").text for row in rows_of(parse(response.text))]
    assert verdicts == [result["verdict"] for result in api_results[:3]]


def test_page_scores_the_file_when_text_is_pasted_too(client: TestClient, held_out) -> None:
    beats, _ = held_out
    upload = {"file": ("two.csv", beats_csv(beats[:2]).encode(), "text/csv")}
    response = client.post("/", files=upload, data={"beat": "1 2 3"})
    assert response.status_code == 200
    assert len(rows_of(parse(response.text))) == 2
    assert "the pasted text was not used" in parse(response.text).find("p", "source").text


def test_page_resamples_beats_of_another_length_when_asked(client: TestClient, held_out) -> None:
    beats, _ = held_out
    half = beats[0][::2]  # 70 samples
    text = " ".join(repr(float(value)) for value in half)
    refused = post_text(client, text)
    assert refused.status_code == 422
    assert "tick “Resample” on the form" in " ".join(problems_of(refused.text))
    response = post_text(client, text, resample="on")
    assert response.status_code == 200
    page = parse(response.text)
    assert [cell.text for cell in rows_of(page)[0].find_all("td")][1] == "70"
    checkbox = next(node for node in page.find_all("input") if node.attrs["name"] == "resample")
    assert "checked" in checkbox.attrs  # the form keeps what was asked
    download = base64.b64decode(page.find("a", "download").attrs["href"].partition(",")[2])
    assert download.decode().splitlines()[0].endswith(",resampled_from")


@pytest.mark.parametrize(
    "text, status, expected",
    [
        ("", 422, "form: choose a CSV file of beats or paste one beat"),
        ("1,2,3\n", 422, "line 1: has 3 columns; the model expects 140 samples"),
        (
            " ".join(["0.5"] * 70 + ["x"] + ["0.5"] * 69),
            422,
            "line 1, column 71: is not a number ('x')",
        ),
    ],
    ids=["empty", "short-row", "not-a-number"],
)
def test_page_shows_what_is_wrong_with_a_pasted_beat(
    client: TestClient, text: str, status: int, expected: str
) -> None:
    response = post_text(client, text)
    assert response.status_code == status
    assert any(problem.startswith(expected) for problem in problems_of(response.text))
    form = parse(response.text).find("form", "upload")  # the form is there to try again
    assert form.find("textarea").text == " ".join(text.split())


def test_page_names_the_ragged_rows_of_a_file(client: TestClient, held_out) -> None:
    beats, labels = held_out
    lines = beats_csv(beats[:4], labels[:4]).splitlines()
    lines[2] = lines[2].rsplit(",", 2)[0]  # drop the last sample and the label of line 3
    upload = {"file": ("ragged.csv", "\n".join(lines).encode(), "text/csv")}
    response = client.post("/", files=upload)
    assert response.status_code == 422
    assert problems_of(response.text) == [
        "line 3: has 139 columns; expected 141 like line 2 (140 samples, then a label; "
        "tick “Resample” on the form to resample beats of other lengths)"
    ]
    assert "ragged.csv" in parse(response.text).find("div", "problems").text
    assert parse(response.text).find_all("table", "verdicts") == []


def test_page_refuses_more_beats_than_it_charts(shipped_model_dir: Path, held_out) -> None:
    beats, _ = held_out
    settings = Settings(model_dir=shipped_model_dir, page_max_beats=3)
    with TestClient(create_app(settings)) as small_client:
        upload = {"file": ("many.csv", beats_csv(beats[:4]).encode(), "text/csv")}
        response = small_client.post("/", files=upload)
        assert response.status_code == 413
        (problem,) = problems_of(response.text)
        assert problem.startswith("file: has more than 3 beats")
        assert "/v1/predict/csv" in problem and "ecg-score" in problem
        assert (
            small_client.post(
                "/", files={"file": ("three.csv", beats_csv(beats[:3]).encode())}
            ).status_code
            == 200
        )


def test_page_refuses_a_beat_that_overflows_the_model(
    unsmoothed_client: TestClient, shipped_model_dir: Path
) -> None:
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(shipped_model_dir / "model.onnx")).graph
    kernels = [numpy_helper.to_array(t) for t in graph.initializer]
    first_layer = next(k for k in kernels if k.shape == (140, 128))
    beat = np.sign(first_layer[:, 12]) * np.float64(np.finfo(np.float32).max)
    response = post_text(unsmoothed_client, " ".join(repr(float(v)) for v in beat))
    assert response.status_code == 422
    assert problems_of(response.text) == [
        "beat 0: has samples too large for the model to score (its arithmetic overflows)"
    ]


def test_page_refuses_a_file_that_is_not_text(client: TestClient) -> None:
    upload = {"file": ("beats.csv", b"\x89PNG\r\n\x1a\n\x00\xff", "text/csv")}
    response = client.post("/", files=upload)
    assert response.status_code == 422
    assert "is not UTF-8" in problems_of(response.text)[0]


def test_page_escapes_what_the_file_says(client: TestClient, held_out) -> None:
    beats, _ = held_out
    label = "<script>alert(1)</script>"
    upload = {"file": ("<b>x</b>.csv", beats_csv(beats[:1], [label]).encode(), "text/csv")}
    response = client.post("/", files=upload)
    assert response.status_code == 200
    assert "<script>" not in response.text and "<b>x</b>" not in response.text
    assert rows_of(parse(response.text))[0].find("td", "label").text == label


def test_page_results_are_not_cached(scored_page) -> None:
    assert scored_page.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "name", ["metadata.json", "model.onnx", "thresholds.csv", "absent.png", "Loss.png"]
)
def test_plots_endpoint_serves_only_the_models_plots(client: TestClient, name: str) -> None:
    response = client.get(f"/v1/model/plots/{name}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


def test_plots_endpoint_does_not_serve_a_plot_changed_since_the_model_loaded(
    model_copy: Path,
) -> None:
    with TestClient(create_app(Settings(model_dir=model_copy))) as own_client:
        assert own_client.get("/v1/model/plots/roc.png").status_code == 200
        (model_copy / "roc.png").write_bytes(b"\x89PNG\r\n\x1a\nanother")
        response = own_client.get("/v1/model/plots/roc.png")
        assert response.status_code == 404
        assert "POST /v1/model/reload" in response.json()["detail"]


def test_plots_endpoint_is_documented_and_the_page_is_not(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    operation = paths["/v1/model/plots/{name}"]["get"]
    assert operation["tags"] == ["model"]
    assert "image/png" in operation["responses"]["200"]["content"]
    assert "/" not in paths


def test_page_refuses_pasted_text_longer_than_a_beat_before_splitting_it(
    client: TestClient,
) -> None:
    response = post_text(client, "0.5 " * 300_000)  # 1.2 MB: more than one line may hold
    assert response.status_code == 413
    assert problems_of(response.text) == [
        "pasted text: is longer than one beat can be (1,048,576 characters)"
    ]


def test_page_refuses_pasted_text_over_its_size_limit(client: TestClient) -> None:
    response = post_text(client, "0.5,\n" * 600_000)  # 3 MB, over the 2 MiB a paste may be
    assert response.status_code == 400
    assert "maximum" in problems_of(response.text)[0].lower()
