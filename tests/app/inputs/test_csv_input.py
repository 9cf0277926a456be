"""POST /v1/predict/csv on the shipped model, with the real held-out beats written as CSV."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.api.schemas import PredictResponse
from app.config import Settings
from app.main import create_app

CSV_HEADERS = {"content-type": "text/csv"}


def beats_csv(beats: np.ndarray, labels: Sequence[str] | None = None, header: bool = False) -> str:
    """Beats as CSV text, one per row (exact float32 values), optionally a header and labels."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if header:
        writer.writerow([f"t{i}" for i in range(beats.shape[1])] + (["label"] if labels else []))
    for i, beat in enumerate(beats.tolist()):
        writer.writerow([repr(v) for v in beat] + ([labels[i]] if labels is not None else []))
    return out.getvalue()


@pytest.fixture(scope="module")
def held_out(reference_test_split: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    beats, is_abnormal = reference_test_split
    return beats, ["abnormal" if flag else "normal" for flag in is_abnormal]


def post_csv(client: TestClient, text: str | bytes, query: str = "", **headers: str):
    return client.post(f"/v1/predict/csv{query}", content=text, headers={**CSV_HEADERS, **headers})


def test_csv_beats_get_the_same_results_as_json(client: TestClient, held_out, tmp_path) -> None:
    beats, _ = held_out
    path = tmp_path / "beats.csv"
    path.write_text(beats_csv(beats))
    response = post_csv(client, path.read_bytes())
    assert response.status_code == 200
    assert response.json() == client.post("/v1/predict", json={"beats": beats.tolist()}).json()


def test_csv_header_and_label_column_are_read_and_labels_echoed(
    client: TestClient, held_out, tmp_path
) -> None:
    beats, labels = held_out
    path = tmp_path / "labelled.csv"
    path.write_text(beats_csv(beats, labels, header=True))
    response = post_csv(client, path.read_bytes())
    assert response.status_code == 200
    results = PredictResponse.model_validate(response.json()).results
    assert [r.label for r in results] == labels
    expected = client.post("/v1/predict", json={"beats": beats.tolist()}).json()["results"]
    assert [r.reconstruction_error for r in results] == [
        r["reconstruction_error"] for r in expected
    ]
    # the verdicts agree with the labels as well as the model does (README: 0.984)
    agreement = np.mean([(r.verdict == r.label) for r in results])
    assert agreement >= 0.96


def test_numeric_label_column_is_echoed_as_given(client: TestClient, held_out) -> None:
    beats, _ = held_out
    response = post_csv(client, beats_csv(beats[:3], ["1.0000000e+00", "2", "x y"]))
    assert response.status_code == 200
    assert [r["label"] for r in response.json()["results"]] == ["1.0000000e+00", "2", "x y"]


def test_csv_with_a_byte_order_mark_is_read(client: TestClient, held_out) -> None:
    beats, labels = held_out
    text = beats_csv(beats[:5], labels[:5], header=True)
    with_bom = post_csv(client, b"\xef\xbb\xbf" + text.encode())
    assert with_bom.status_code == 200
    assert with_bom.json() == post_csv(client, text).json()


def test_multipart_upload_and_text_csv_body_give_identical_results(
    client: TestClient, held_out, tmp_path
) -> None:
    beats, labels = held_out
    path = tmp_path / "beats.csv"
    path.write_text(beats_csv(beats[:200], labels[:200], header=True))
    with path.open("rb") as upload:
        multipart = client.post(
            "/v1/predict/csv", files={"file": ("beats.csv", upload, "text/csv")}
        )
    assert multipart.status_code == 200
    assert multipart.json() == post_csv(client, path.read_bytes()).json()


def test_accept_text_csv_returns_the_verdicts_as_csv(client: TestClient, held_out) -> None:
    beats, labels = held_out
    text = beats_csv(beats[:50], labels[:50])
    as_json = post_csv(client, text).json()
    response = post_csv(client, text, accept="text/csv")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["x-model-version"] == as_json["model_version"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == ["index", "reconstruction_error", "is_anomaly", "verdict", "label"]
    assert len(rows) == 50
    for row, result in zip(rows, as_json["results"], strict=True):
        assert int(row["index"]) == result["index"]
        assert float(row["reconstruction_error"]) == result["reconstruction_error"]
        assert row["is_anomaly"] == str(result["is_anomaly"]).lower()
        assert row["verdict"] == result["verdict"]
        assert row["label"] == result["label"]


@pytest.mark.parametrize("accept", ["application/json", "*/*", "text/csv;q=0.5, application/json"])
def test_json_stays_the_answer_unless_csv_is_preferred(
    client: TestClient, held_out, accept: str
) -> None:
    response = post_csv(client, beats_csv(held_out[0][:2]), accept=accept)
    assert response.headers["content-type"] == "application/json"


def test_csv_applies_k_and_threshold_as_predict_does(client: TestClient, held_out) -> None:
    beats, _ = held_out
    text = beats_csv(beats[:20])
    for query in ("?k=2.5", "?threshold=0.02"):
        csv_body = post_csv(client, text, query).json()
        json_body = client.post(f"/v1/predict{query}", json={"beats": beats[:20].tolist()}).json()
        assert csv_body == json_body
    both = post_csv(client, text, "?k=1&threshold=0.02").json()
    assert both["results"] == post_csv(client, text, "?threshold=0.02").json()["results"]
    assert both["threshold"] == 0.02
    assert post_csv(client, text, "?explain=true").status_code == 422  # not a CSV parameter


def _row(values: list[str]) -> str:
    return ",".join(values) + "\n"


def _refusal(client: TestClient, body: str | bytes, query: str = "") -> dict:
    response = post_csv(client, body, query)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return response.json()


def test_ragged_row_is_refused_naming_its_line(client: TestClient, held_out) -> None:
    good = [repr(v) for v in held_out[0][0].tolist()]
    body = "t" + ",t".join(map(str, range(140))) + "\n" + _row(good) + _row(good[:-5])
    problem = _refusal(client, body)
    assert problem["errors"][0]["location"] == "line 3"
    assert "has 135 columns; expected 140 like line 2" in problem["detail"]
    assert "resample=true" in problem["detail"]


def test_row_of_another_length_mentions_resample(client: TestClient) -> None:
    problem = _refusal(client, _row(["0.5"] * 187))
    assert problem["errors"][0]["location"] == "line 1"
    assert "resample=true" in problem["detail"]


@pytest.mark.parametrize(
    "cell, message",
    [("abc", "is not a number ('abc')"), ("", "is empty"), ("nan", "finite"), ("1e40", "finite")],
)
def test_bad_cell_is_refused_naming_line_and_column(
    client: TestClient, held_out, cell: str, message: str
) -> None:
    good = [repr(v) for v in held_out[0][0].tolist()]
    bad = [*good[:16], cell, *good[17:]]
    problem = _refusal(client, _row(good) + _row(bad))
    error = problem["errors"][0]
    assert error["location"] == "line 2, column 17"
    assert (error["beat"], error["sample"]) == (1, 16)
    assert message in error["message"]


def test_empty_and_header_only_files_are_refused(client: TestClient) -> None:
    assert "is empty" in _refusal(client, b"")["detail"]
    assert "is empty" in _refusal(client, b"\n\n")["detail"]
    header = "t" + ",t".join(map(str, range(140))) + ",label\n"
    assert "header row but no beats" in _refusal(client, header)["detail"]


def test_non_utf8_bytes_are_refused_naming_the_byte_offset(client: TestClient) -> None:
    body = b"0.1,0.2\n0.3,\xe9\n"
    problem = _refusal(client, body)
    assert problem["errors"][0]["location"] == "line 2"
    assert "byte offset 12" in problem["detail"]
    assert "UTF-8" in problem["detail"]


def test_many_bad_rows_are_counted_not_all_described(client: TestClient) -> None:
    problem = _refusal(client, _row(["x"] * 140) * 1 + _row(["1", "y", *["1"] * 138]) * 500)
    assert len(problem["errors"]) == 20
    assert problem["detail"].endswith("and 480 more problems")


def test_more_rows_than_the_limit_are_refused_with_413(shipped_model_dir: Path, held_out) -> None:
    with TestClient(create_app(Settings(model_dir=shipped_model_dir, max_beats=5))) as small:
        assert post_csv(small, beats_csv(held_out[0][:5])).status_code == 200
        response = post_csv(small, beats_csv(held_out[0][:6]))
    assert response.status_code == 413
    assert "ECG_MAX_BEATS" in response.json()["detail"]


def test_other_content_types_are_refused_with_415(client: TestClient) -> None:
    response = client.post("/v1/predict/csv", content=b"1,2", headers={"content-type": "x/y"})
    assert response.status_code == 415
    assert "text/csv" in response.json()["detail"]


def test_multipart_without_the_file_field_is_refused(client: TestClient) -> None:
    response = client.post("/v1/predict/csv", files={"upload": ("b.csv", b"1,2", "text/csv")})
    assert response.status_code == 422
    assert "form.upload" in response.json()["detail"]


def test_resample_interpolates_other_lengths_and_says_so(client: TestClient, held_out) -> None:
    beats, labels = held_out
    beats = beats[:100]
    positions = np.linspace(0.0, 1.0, 280)
    longer = np.stack([np.interp(positions, np.linspace(0, 1, 140), b) for b in beats])
    text = beats_csv(longer.astype(np.float32), labels[:100])
    response = post_csv(client, text, "?resample=true")
    assert response.status_code == 200
    results = response.json()["results"]
    assert {r["resampled_from"] for r in results} == {280}
    assert [r["label"] for r in results] == labels[:100]
    direct = client.post("/v1/predict", json={"beats": beats.tolist()}).json()["results"]
    agreeing = np.mean([a["verdict"] == b["verdict"] for a, b in zip(results, direct, strict=True)])
    assert agreeing >= 0.95  # up- and back-sampling changes a beat very little
    # without resample=true the same file is refused
    assert "resample=true" in _refusal(client, text)["detail"]


def test_resample_leaves_beats_of_the_input_length_alone(client: TestClient, held_out) -> None:
    beats, _ = held_out
    text = beats_csv(beats[:5])
    resampled = post_csv(client, text, "?resample=true").json()
    assert all("resampled_from" not in r for r in resampled["results"])
    assert resampled == post_csv(client, text).json()


def test_resample_refuses_rows_shorter_than_two_samples(client: TestClient) -> None:
    problem = _refusal(client, "0.5,0.6,0.7\n0.5\n", "?resample=true")
    assert problem["errors"][0]["location"] == "line 2"
    assert "at least 2" in problem["detail"]


def test_openapi_offers_a_file_upload_and_a_csv_body(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/v1/predict/csv"]["post"]
    content = operation["requestBody"]["content"]
    file_field = content["multipart/form-data"]["schema"]["properties"]["file"]
    # contentMediaType: Swagger UI offers a file picker; the pattern: what a valid file holds
    assert file_field == {**file_field, "type": "string", "contentMediaType": "text/csv"}
    assert content["text/csv"]["schema"]["pattern"] == file_field["pattern"]
    assert re.fullmatch(file_field["pattern"], beats_csv(np.zeros((2, 140))))
    assert not re.search(file_field["pattern"], beats_csv(np.zeros((2, 139))))
    assert {p["name"] for p in operation["parameters"]} == {"k", "threshold", "resample"}
    assert "text/csv" in operation["responses"]["200"]["content"]


def test_a_first_row_with_a_typo_is_a_bad_beat_not_a_header(client: TestClient, held_out) -> None:
    good = [repr(v) for v in held_out[0][0].tolist()]
    problem = _refusal(client, _row(["0.1", "oops", *good[2:]]) + _row(good))
    assert problem["errors"][0]["location"] == "line 1, column 2"


def test_blank_lines_are_skipped_but_counted_in_line_numbers(client: TestClient, held_out) -> None:
    good = [repr(v) for v in held_out[0][0].tolist()]
    body = "\n" + _row(good) + "  \n\n" + _row(good).replace("\n", "\r\n") + _row(good[:3])
    problem = _refusal(client, body)
    assert [e["location"] for e in problem["errors"]] == ["line 6"]
    assert post_csv(client, "\n" + _row(good) + "\n\n" + _row(good)).status_code == 200


def test_endless_blank_lines_and_overlong_lines_are_refused_cheaply(
    shipped_model_dir: Path,
) -> None:
    with TestClient(create_app(Settings(model_dir=shipped_model_dir, max_beats=10))) as small:
        blank = post_csv(small, b"\n" * 100_000)
        long_line = post_csv(small, b"1," * 600_000)
    assert blank.status_code == 413
    assert "more than 21 lines" in blank.json()["detail"]
    assert long_line.status_code == 422
    assert "longer than 1,048,576 bytes" in long_line.json()["detail"]


def test_unterminated_quote_is_refused_as_invalid_csv(client: TestClient) -> None:
    problem = _refusal(client, b'0.1,"0.2\n0.3\n')
    assert "is not valid CSV" in problem["detail"]
