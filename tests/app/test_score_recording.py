"""`ecg-score` on recordings: chunk by chunk, the beats the service finds in one piece."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyedflib
import pytest
from fastapi.testclient import TestClient

from app.score_cli import main
from tests.app.conftest import Record100

COLUMNS = [
    "index", "time_s", "rr_s", "heart_rate_bpm", "reconstruction_error", "anomaly_score", "verdict",
    "reasons",
]  # fmt: skip


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as source:
        return list(csv.DictReader(source))


@pytest.fixture(scope="module")
def served_beats(client: TestClient, record_100: Record100) -> list[dict[str, object]]:
    response = client.post("/v1/recordings", files=record_100.uploads("100.hea", "100.dat"))
    assert response.status_code == 200
    beats: list[dict[str, object]] = response.json()["beats"]
    return beats


def test_chunked_wfdb_scoring_gives_the_services_beats(
    record_100: Record100,
    served_beats: list[dict[str, object]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    output = tmp_path / "beats.csv"
    header = record_100.directory / "100.hea"
    assert main([str(header), "--output", str(output), "--chunk-s", "120"]) == 0
    rows = read_rows(output)
    assert list(rows[0]) == COLUMNS
    assert [int(row["index"]) for row in rows] == list(range(len(rows)))
    # 15 chunks of 2 minutes: the same beats at the same times as the record in one piece
    assert len(rows) == len(served_beats)
    times = np.array([float(row["time_s"]) for row in rows])
    np.testing.assert_allclose(times, [beat["time_s"] for beat in served_beats], atol=1e-9)
    same = [row["verdict"] == beat["verdict"] for row, beat in zip(rows, served_beats, strict=True)]
    assert np.mean(same) >= 0.999
    assert rows[0]["rr_s"] == "" and all(float(row["rr_s"]) > 0.2 for row in rows[1:])
    out = capsys.readouterr().out
    assert f"{len(rows):,} beats" in out and "does not describe this person" in out
    assert not list(tmp_path.glob("*.partial"))


def test_edf_and_csv_recordings_are_scored_offline(record_100: Record100, tmp_path: Path) -> None:
    minutes = record_100.signals[: 4 * 60 * 360]
    edf = tmp_path / "rec.edf"
    headers = [
        pyedflib.highlevel.make_signal_header(
            name, dimension="mV", sample_frequency=360, physical_min=-10, physical_max=10
        )
        for name in record_100.lead_names
    ]
    pyedflib.highlevel.write_edf(str(edf), np.ascontiguousarray(minutes.T), headers)
    samples = tmp_path / "rec.csv"
    np.savetxt(samples, minutes, delimiter=",", fmt="%.3f", header="MLII,V5", comments="")
    assert main([str(edf), "-o", str(tmp_path / "edf.csv"), "--chunk-s", "60"]) == 0
    assert main(
        [str(samples), "-o", str(tmp_path / "csv.csv"), "--recording", "--sampling-rate", "360",
         "--chunk-s", "60"]
    ) == 0  # fmt: skip
    from_edf, from_csv = read_rows(tmp_path / "edf.csv"), read_rows(tmp_path / "csv.csv")
    annotated = int(np.sum(record_100.beat_samples < len(minutes)))
    assert abs(len(from_edf) - annotated) <= 1 and abs(len(from_csv) - annotated) <= 1
    np.testing.assert_allclose(
        [float(r["time_s"]) for r in from_edf], [float(r["time_s"]) for r in from_csv], atol=0.01
    )


def test_unreadable_recording_stops_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.edf"
    bad.write_bytes(b"not an EDF file")
    output = tmp_path / "out.csv"
    assert main([str(bad), "-o", str(output)]) != 0
    assert "bad.edf" in capsys.readouterr().err
    assert not output.exists() and not list(tmp_path.glob("*.partial"))


def test_csv_recording_needs_its_sampling_rate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    samples = tmp_path / "rec.csv"
    samples.write_text("MLII\n" + "\n".join("0.1" for _ in range(100)))
    assert main([str(samples), "-o", str(tmp_path / "o.csv"), "--recording"]) == 1
    assert "sampling_rate: is required" in capsys.readouterr().err
