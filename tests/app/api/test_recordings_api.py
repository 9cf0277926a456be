"""POST /v1/recordings on the shipped model, with MIT-BIH record 100 in every format it takes."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyedflib
import pytest
from fastapi.testclient import TestClient
from wfdb import processing

from app.config import Settings
from app.main import create_app
from tests.app.conftest import Record100
from training.evaluation.strip import joined_strip

WFDB_FILES = ("100.hea", "100.dat", "100.atr")


@pytest.fixture(scope="module")
def wfdb_result(client: TestClient, record_100: Record100) -> dict[str, Any]:
    response = client.post("/v1/recordings", files=record_100.uploads(*WFDB_FILES))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def detection(record: Record100, times_s: list[float], length: int) -> tuple[float, float]:
    """Sensitivity and positive predictivity of the beats found against the annotated beats of
    the record's first `length` samples, matched within 150 ms."""
    annotated = record.beat_samples[record.beat_samples < length]
    found = np.round(np.asarray(times_s) * record.sampling_rate).astype(int)
    comparator = processing.Comparitor(annotated, found, round(0.15 * record.sampling_rate))
    comparator.compare()
    return comparator.sensitivity, comparator.positive_predictivity


def csv_of(record: Record100, header: bool = True) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(record.lead_names)
    writer.writerows(np.round(record.signals, 3).tolist())
    return out.getvalue().encode()


def test_wfdb_record_finds_the_annotated_beats(wfdb_result: dict[str, Any]) -> None:
    annotations = wfdb_result["annotations"]
    assert annotations["annotation_file"] == "100.atr"
    assert annotations["annotated_beats"] == 2273
    assert annotations["sensitivity"] >= 0.998
    assert annotations["positive_predictivity"] >= 0.998
    by_class = annotations["verdicts_by_class"]
    assert by_class["N"]["annotated"] == 2239 and by_class["S"]["annotated"] == 33


def test_wfdb_record_times_each_beat(wfdb_result: dict[str, Any], record_100: Record100) -> None:
    beats = wfdb_result["beats"]
    summary = wfdb_result["summary"]
    assert summary["lead"] == "MLII" and summary["sampling_rate"] == 360
    assert summary["n_beats"] == len(beats)
    assert summary["duration_s"] == pytest.approx(650_000 / 360)
    assert [beat["index"] for beat in beats] == list(range(len(beats)))
    assert beats[0]["rr_s"] is None
    second = beats[1]
    assert second["rr_s"] == pytest.approx(beats[1]["time_s"] - beats[0]["time_s"])
    assert second["heart_rate_bpm"] == pytest.approx(60 / second["rr_s"])
    # record 100 runs at about 75 beats a minute
    assert 70 < summary["mean_heart_rate_bpm"] < 80
    assert beats[-1]["verdict"] == "unscored" and beats[-1]["reconstruction_error"] is None


def test_shipped_model_warns_that_it_does_not_describe_record_100(
    wfdb_result: dict[str, Any],
) -> None:
    summary = wfdb_result["summary"]
    assert summary["model_provenance"]["dataset"].startswith("ECG5000")
    assert summary["fit"]["fits"] is False
    assert summary["fit"]["fraction_beyond"] > 0.9
    assert any("does not describe this person" in warning for warning in wfdb_result["warnings"])
    abnormal = [beat for beat in wfdb_result["beats"] if beat["verdict"] == "abnormal"]
    assert abnormal and all(beat["reasons"][0].startswith("shape:") for beat in abnormal)


def test_edf_made_from_record_100_gives_the_wfdb_beats(
    client: TestClient, record_100: Record100, wfdb_result: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "100.edf"
    headers = [
        pyedflib.highlevel.make_signal_header(
            name, dimension="mV", sample_frequency=360, physical_min=-10, physical_max=10
        )
        for name in record_100.lead_names
    ]
    pyedflib.highlevel.write_edf(str(path), record_100.signals.T, headers)
    response = client.post("/v1/recordings", files=[("files", ("100.edf", path.read_bytes()))])
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["summary"]["lead"] == "MLII" and result["summary"]["source_format"] == "edf"
    assert _times(result) == pytest.approx(_times(wfdb_result), abs=1 / 360)


def test_csv_of_record_100_gives_the_wfdb_beats(
    client: TestClient, record_100: Record100, wfdb_result: dict[str, Any]
) -> None:
    upload = [("files", ("100.csv", csv_of(record_100)))]
    response = client.post("/v1/recordings?sampling_rate=360", files=upload)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["summary"]["leads"] == ["MLII", "V5"]
    assert _times(result) == pytest.approx(_times(wfdb_result), abs=1 / 360)


def test_json_samples_are_scored_on_the_lead_asked_for(
    client: TestClient, record_100: Record100
) -> None:
    minutes = record_100.signals[: 5 * 60 * 360]
    body = {
        "sampling_rate": 360,
        "leads": {"MLII": minutes[:, 0].tolist(), "V5": minutes[:, 1].tolist()},
    }
    response = client.post("/v1/recordings?lead=1", content=orjson.dumps(body), headers=JSON)
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["summary"]["lead"] == "V5"
    sensitivity, predictivity = detection(record_100, _times(result), len(minutes))
    assert sensitivity >= 0.99 and predictivity >= 0.99


@pytest.mark.parametrize("rate", [100, 250, 1000, 2000])
def test_beats_are_found_at_any_sampling_rate_and_either_polarity(
    client: TestClient, record_100: Record100, rate: int
) -> None:
    from scipy.signal import resample_poly

    minutes = record_100.signals[: 3 * 60 * 360, 0]
    resampled = resample_poly(minutes, rate, 360)
    for sign in (1, -1):
        body = {"sampling_rate": rate, "leads": {"MLII": (sign * resampled).tolist()}}
        response = client.post("/v1/recordings", content=orjson.dumps(body), headers=JSON)
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["summary"]["qrs_polarity"] == ("positive" if sign > 0 else "negative")
        sensitivity, predictivity = detection(record_100, _times(result), len(minutes))
        assert sensitivity >= 0.99 and predictivity >= 0.99


def test_csv_accept_gives_one_row_per_beat(client: TestClient, record_100: Record100) -> None:
    response = client.post(
        "/v1/recordings",
        files=record_100.uploads("100.hea", "100.dat"),
        headers={"accept": "text/csv"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert list(rows[0]) == [
        "index", "time_s", "rr_s", "heart_rate_bpm", "reconstruction_error", "anomaly_score",
        "verdict", "reasons",
    ]  # fmt: skip
    assert 2200 < len(rows) < 2300
    assert rows[0]["rr_s"] == "" and float(rows[1]["rr_s"]) > 0
    assert {row["verdict"] for row in rows} <= {"normal", "abnormal", "unscored"}


def test_strip_of_ecg5000_beats_comes_back_with_their_verdicts(
    client: TestClient, reference_test_split: tuple[np.ndarray, np.ndarray]
) -> None:
    """The held-out beats joined into a 250 Hz strip (0.76 to 0.9 s each, as in the recording
    ECG5000 was cut from), found and cut again, keep the verdicts their labels call for."""
    beats, is_abnormal = reference_test_split
    strip, starts, lengths = joined_strip(beats)
    body = {"sampling_rate": 250, "leads": {"ECG": strip.round(5).tolist()}}
    response = client.post("/v1/recordings", content=orjson.dumps(body), headers=JSON)
    assert response.status_code == 200, response.text
    result = response.json()
    scored = [beat for beat in result["beats"] if beat["verdict"] != "unscored"]
    # each beat found belongs to the joined beat whose QRS (3.4 of its 140 samples in) is nearest
    qrs = starts + 0.0245 * lengths
    nearest = np.abs(
        np.asarray([b["time_s"] * 250 for b in scored])[:, None] - qrs[None, :]
    ).argmin(1)
    called = np.array([beat["verdict"] == "abnormal" for beat in scored])
    assert len(set(nearest.tolist())) >= 990  # of the 1,000 joined beats
    accuracy = float(np.mean(called == is_abnormal[nearest]))
    assert accuracy >= 0.95
    assert result["summary"]["fit"]["fits"] is True and result["warnings"] == []


def test_bad_stretches_leave_their_beats_unscored(
    client: TestClient, record_100: Record100
) -> None:
    lead = record_100.signals[: 2 * 60 * 360, 0].copy()
    lead[20 * 360 : 30 * 360] = lead[20 * 360]  # 10 s of flat line (a lead off)
    lead[60 * 360 : 70 * 360] += np.random.default_rng(1).normal(0, 3, 10 * 360)  # artefact
    body = {"sampling_rate": 360, "leads": {"MLII": lead.tolist()}}
    response = client.post("/v1/recordings", content=orjson.dumps(body), headers=JSON)
    assert response.status_code == 200, response.text
    result = response.json()
    issues = {stretch["issue"] for stretch in result["bad_stretches"]}
    assert {"flat line", "heavy noise"} <= issues
    flat = [b for b in result["beats"] if 21 <= b["time_s"] <= 29]
    assert all(beat["verdict"] == "unscored" for beat in flat)
    noisy = [b for b in result["beats"] if 61 <= b["time_s"] <= 69]
    assert noisy and all(
        b["reasons"][0].startswith("signal quality") for b in noisy if b["verdict"] == "unscored"
    )
    assert any("cannot be trusted" in warning for warning in result["warnings"])


JSON = {"content-type": "application/json"}


def _times(result: dict[str, Any]) -> list[float]:
    return [beat["time_s"] for beat in result["beats"]]


def _detail(response: Any) -> str:
    assert response.headers["content-type"] == "application/problem+json", response.text
    detail: str = response.json()["detail"]
    return detail


def test_header_without_its_signal_file_is_refused(
    client: TestClient, record_100: Record100
) -> None:
    response = client.post("/v1/recordings", files=record_100.uploads("100.hea"))
    assert response.status_code == 422
    assert "names the signal file 100.dat, which was not uploaded" in _detail(response)


def test_signal_file_without_its_header_is_refused(
    client: TestClient, record_100: Record100
) -> None:
    response = client.post("/v1/recordings", files=record_100.uploads("100.dat"))
    assert response.status_code == 422
    assert "needs exactly one header file" in _detail(response)


def test_header_that_disagrees_with_the_signal_size_is_refused(
    client: TestClient, record_100: Record100
) -> None:
    truncated = (record_100.directory / "100.dat").read_bytes()[:100_000]
    files = [*record_100.uploads("100.hea"), ("files", ("100.dat", truncated))]
    response = client.post("/v1/recordings", files=files)
    assert response.status_code == 422
    assert "100.dat" in _detail(response) and "1,950,000 bytes" in _detail(response)


def test_unknown_wfdb_format_is_refused(client: TestClient, record_100: Record100) -> None:
    header = (record_100.directory / "100.hea").read_text().replace(" 212 ", " 999 ")
    files = [("files", ("100.hea", header.encode())), *record_100.uploads("100.dat")]
    response = client.post("/v1/recordings", files=files)
    assert response.status_code == 422
    assert "format" in _detail(response)


@pytest.mark.parametrize(
    "content", [b"not an EDF file at all", b"0       " + b"x" * 200], ids=["text", "truncated"]
)
def test_file_that_is_not_edf_is_refused(client: TestClient, content: bytes) -> None:
    response = client.post("/v1/recordings", files=[("files", ("scan.edf", content))])
    assert response.status_code == 422
    assert "form.files[scan.edf]: is not a readable EDF" in _detail(response)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("", "query.sampling_rate: is required"),
        ("?sampling_rate=50", "query.sampling_rate: is 50 Hz"),
        ("?sampling_rate=5000", "query.sampling_rate: is 5000 Hz"),
    ],
)
def test_csv_needs_a_sampling_rate_in_range(
    client: TestClient, record_100: Record100, query: str, message: str
) -> None:
    upload = [("files", ("100.csv", csv_of(record_100)[:200_000].rsplit(b"\n", 1)[0]))]
    response = client.post(f"/v1/recordings{query}", files=upload)
    assert response.status_code == 422
    assert message in _detail(response)


def test_ragged_csv_names_the_line(client: TestClient) -> None:
    rows = "\n".join(f"{np.sin(i / 10):.3f},{np.cos(i / 10):.3f}" for i in range(5000))
    upload = [("files", ("x.csv", (rows + "\n1,2,3\n").encode()))]
    response = client.post("/v1/recordings?sampling_rate=360", files=upload)
    assert response.status_code == 422
    assert "line 5001" in _detail(response)


def test_non_finite_sample_is_refused_with_its_place(client: TestClient) -> None:
    rows = [f"{np.sin(i / 10):.3f}" for i in range(5000)]
    rows[1234] = "nan"
    upload = [("files", ("x.csv", "\n".join(rows).encode()))]
    response = client.post("/v1/recordings?sampling_rate=360", files=upload)
    assert response.status_code == 422
    assert "line 1235, column 1: 'nan' is not a finite number" in _detail(response)


@pytest.mark.parametrize(
    ("samples", "message"),
    [
        ([0.5] * 7200, "is a flat line"),
        ([0.0, 1.0] * 1000, "lasts 5.56 s"),
    ],
    ids=["flat", "too-short"],
)
def test_recording_without_beats_to_find_is_refused(
    client: TestClient, samples: list[float], message: str
) -> None:
    body = {"sampling_rate": 360, "leads": {"MLII": samples}}
    response = client.post("/v1/recordings", content=orjson.dumps(body), headers=JSON)
    assert response.status_code == 422
    assert message in _detail(response)


def test_unknown_lead_is_refused_naming_the_leads(
    client: TestClient, record_100: Record100
) -> None:
    response = client.post("/v1/recordings?lead=V7", files=record_100.uploads("100.hea", "100.dat"))
    assert response.status_code == 422
    assert "'V7' is not a lead of this recording; its leads are 0: MLII, 1: V5" in _detail(response)


def test_json_leads_of_different_lengths_are_refused(client: TestClient) -> None:
    body = {"sampling_rate": 360, "leads": {"I": [0.0] * 4000, "II": [0.0] * 3999}}
    response = client.post("/v1/recordings", content=orjson.dumps(body), headers=JSON)
    assert response.status_code == 422
    assert "same number of samples" in _detail(response)


def test_recording_over_the_configured_duration_is_refused(
    shipped_model_dir: Path, record_100: Record100
) -> None:
    settings = Settings(model_dir=shipped_model_dir, max_recording_s=600)
    with TestClient(create_app(settings)) as client:
        response = client.post("/v1/recordings", files=record_100.uploads("100.hea", "100.dat"))
    assert response.status_code == 413
    assert "ECG_MAX_RECORDING_S" in _detail(response)


def test_unsupported_upload_is_refused(client: TestClient) -> None:
    response = client.post("/v1/recordings", files=[("files", ("scan.png", b"\x89PNG"))])
    assert response.status_code == 415
    response = client.post("/v1/recordings", content=b"x", headers={"content-type": "text/plain"})
    assert response.status_code == 415


def test_timing_rule_flags_the_premature_beats_of_record_100(
    client: TestClient, record_100: Record100
) -> None:
    response = client.post(
        "/v1/recordings?premature_below=0.86", files=record_100.uploads("100.hea", "100.dat")
    )
    assert response.status_code == 200, response.text
    result = response.json()
    assert "below 0.86" in result["summary"]["timing_rule"]
    beats = [beat for beat in result["beats"] if beat["verdict"] != "unscored"]
    found = np.array([round(beat["time_s"] * 360) for beat in beats])
    early = np.array([any(r.startswith("timing:") for r in beat["reasons"]) for beat in beats])
    symbols = np.array(record_100.beat_symbols)
    nearest = np.abs(found[:, None] - record_100.beat_samples[None, :]).argmin(axis=1)
    assert early[symbols[nearest] == "A"].mean() >= 0.9
    assert early[symbols[nearest] == "N"].mean() <= 0.01
    scores = np.array([beat["anomaly_score"] for beat in beats])
    abnormal = np.array([beat["verdict"] == "abnormal" for beat in beats])
    assert ((scores > 1) == abnormal).all()


def test_timing_rule_boundary_must_be_a_fraction(client: TestClient, record_100: Record100) -> None:
    response = client.post(
        "/v1/recordings?premature_below=1.5", files=record_100.uploads("100.hea", "100.dat")
    )
    assert response.status_code == 422
    assert "query.premature_below" in _detail(response)


def test_json_that_is_not_json_or_holds_no_numbers_is_refused(client: TestClient) -> None:
    infinite = '{"sampling_rate": 360, "leads": {"MLII": [0.1, 1e999]}}'
    response = client.post("/v1/recordings", content=infinite, headers=JSON)
    assert response.status_code == 400 and "is not valid JSON" in _detail(response)
    text = '{"sampling_rate": 360, "leads": {"I": ["a"]}}'
    response = client.post("/v1/recordings", content=text, headers=JSON)
    assert response.status_code == 422 and "body.leads.I.0" in _detail(response)
