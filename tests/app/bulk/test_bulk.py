"""`ecg-bulk` on a real Dask LocalCluster over a multi-file Parquet archive made from ECG5000,
compared row by row with the single-process scorer (`ecg-score` on the same rows)."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from distributed import Client, LocalCluster

from app.bulk.engine import PLUGIN_NAME, BulkJob, run_bulk_job
from app.bulk.partitions import ArchiveError, plan_partitions
from app.inference.scoring import load_scorer, operating_point

BIN_DIR = Path(sys.executable).parent
SAMPLE_COLUMNS = [f"s{i:03d}" for i in range(140)]
FILE_ROWS = (1700, 1700, 1600)  # three files of 400-row row groups: 14 partitions in all
ROW_GROUP_ROWS = 400


def ecg5000_rows(ecg5000_csv: Path) -> list[list[float]]:
    # parsed as ecg-score parses them (Python floats), so both see the very same numbers
    with ecg5000_csv.open() as source:
        return [[float(cell) for cell in row] for row in csv.reader(source)]


def write_archive(directory: Path, rows: list[list[float]]) -> Path:
    directory.mkdir()
    frame = pd.DataFrame(rows, columns=[*SAMPLE_COLUMNS, "label"])
    start = 0
    for number, count in enumerate(FILE_ROWS):
        part = pa.Table.from_pandas(frame.iloc[start : start + count], preserve_index=False)
        pq.write_table(part, directory / f"beats-{number}.parquet", row_group_size=ROW_GROUP_ROWS)
        start += count
    return directory


@pytest.fixture(scope="module")
def archive(ecg5000_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_archive(tmp_path_factory.mktemp("bulk") / "archive", ecg5000_rows(ecg5000_csv))


@pytest.fixture(scope="module")
def single_process_verdicts(ecg5000_csv: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The single-process scorer's verdicts on the same rows: ecg-score on ecg5000.csv."""
    output = tmp_path_factory.mktemp("reference") / "verdicts.csv"
    subprocess.run(
        [str(BIN_DIR / "ecg-score"), str(ecg5000_csv), "--output", str(output)],
        check=True,
        capture_output=True,
    )
    return output


def assert_same_as_single_process(bulk_output: Path, reference: Path) -> None:
    bulk = pd.read_parquet(bulk_output)
    expected = pd.read_csv(reference, dtype={"reconstruction_error": str})
    assert len(bulk) == len(expected) == sum(FILE_ROWS)
    assert bulk["index"].tolist() == expected["index"].tolist() == list(range(len(bulk)))
    # ecg-score writes each error with repr(): the float round-trips exactly
    assert bulk["reconstruction_error"].tolist() == [
        float(text) for text in expected["reconstruction_error"]
    ]
    assert bulk["is_anomaly"].tolist() == expected["is_anomaly"].tolist()
    assert bulk["verdict"].tolist() == expected["verdict"].tolist()
    assert bulk["label"].tolist() == expected["label"].astype(float).tolist()


def run_ecg_bulk(archive: Path, output: Path) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it: a LocalCluster of its own, two workers by default."""
    command = [str(BIN_DIR / "ecg-bulk"), str(archive), "-o", str(output), "--keep", "label"]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_ecg_bulk_scores_every_row_as_the_single_process_scorer_does(
    archive: Path, single_process_verdicts: Path, tmp_path: Path
) -> None:
    output = tmp_path / "verdicts"
    result = run_ecg_bulk(archive, output)
    assert result.returncode == 0, result.stderr
    assert "5,000 rows scored in 14 partitions" in result.stdout
    assert "beats" in result.stderr  # the progress bar
    assert sorted(path.name for path in output.iterdir()) == [
        f"part-{n:06d}.parquet" for n in range(14)
    ]
    assert not output.with_name("verdicts.partial").exists()
    assert_same_as_single_process(output, single_process_verdicts)


@pytest.fixture(scope="module")
def cluster_client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def job(archive: Path, output: Path, shipped_model_dir: Path, batch_rows: int = 65_536) -> BulkJob:
    point = operating_point(load_scorer(shipped_model_dir).metadata)
    return BulkJob(archive, output, shipped_model_dir, point, ("label",), batch_rows)


def test_the_model_is_loaded_once_per_worker_not_per_partition(
    cluster_client: Client, archive: Path, shipped_model_dir: Path, tmp_path: Path
) -> None:
    result = run_bulk_job(cluster_client, job(archive, tmp_path / "out", shipped_model_dir), 140)
    assert result.partitions == 14
    loads = cluster_client.run(lambda dask_worker: dask_worker.plugins[PLUGIN_NAME].loads)
    assert list(loads.values()) == [1, 1]


def test_a_worker_killed_mid_run_loses_no_row(
    cluster_client: Client,
    archive: Path,
    shipped_model_dir: Path,
    single_process_verdicts: Path,
    tmp_path: Path,
) -> None:
    pids = cluster_client.run(os.getpid)
    victim = next(iter(pids.values()))
    started = threading.Event()

    def on_partition(rows: int, partitions: int) -> None:
        if not started.is_set():
            started.set()
            os.kill(victim, signal.SIGKILL)  # the nanny starts a new worker; its tasks rerun

    output = tmp_path / "out"
    small_batches = job(archive, output, shipped_model_dir, batch_rows=50)
    result = run_bulk_job(cluster_client, small_batches, 140, on_partition)
    assert started.is_set() and victim not in cluster_client.run(os.getpid).values()
    assert result.rows == 5000
    assert_same_as_single_process(output, single_process_verdicts)


def test_a_bad_partition_is_named_and_leaves_no_output(
    archive: Path, tmp_path: Path, ecg5000_csv: Path
) -> None:
    rows = ecg5000_rows(ecg5000_csv)
    rows[1700 + 450][17] = float("nan")  # second file, second row group
    bad_archive = write_archive(tmp_path / "bad", rows)
    output = tmp_path / "verdicts"
    result = run_ecg_bulk(bad_archive, output)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"ecg-bulk: {bad_archive / 'beats-1.parquet'}, row group 1: row 2150, column 's017': "
        "is missing or not a finite number within float32 range"
    )
    assert not output.exists() and not output.with_name("verdicts.partial").exists()


def test_an_archive_with_other_columns_is_refused_from_its_metadata(archive: Path) -> None:
    with pytest.raises(ArchiveError, match=r"beats-0.parquet: has 141 sample columns, the model"):
        plan_partitions(archive, 140, keep=())  # the label column, not named with --keep


def test_a_file_that_is_not_parquet_is_named(archive: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "beats-0.parquet").write_bytes((archive / "beats-0.parquet").read_bytes()[:1000])
    with pytest.raises(ArchiveError, match=r"beats-0.parquet: not a readable Parquet file"):
        plan_partitions(damaged, 140, keep=("label",))
