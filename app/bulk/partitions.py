"""A Parquet archive as partitions, and the scoring of one partition: no Dask here.

A partition is one row group of one file, in the order of the files' sorted names. Its rows
are read in batches, scored with the model and written to one output Parquet file, so memory
is bounded by the batch whatever the archive's size. The same function scores a partition on
a Dask worker (app.bulk.engine) or anywhere else (the README's Spark `mapInPandas` example
scores a pandas frame through `score_frame`).

The beats are the archive's numeric columns, one per sample, in order; `keep` names columns
carried to the output unscored (a label, a patient id). Output columns: `index` (the row's
position in the whole archive), `reconstruction_error`, `is_anomaly`, `verdict`, then `keep`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from app.inference.scoring import OperatingPoint, Scorer, UnscorableBeatsError

PARQUET_SUFFIX = ".parquet"
# beats per ONNX Runtime call: about the fastest on this model (larger blocks fall out of the
# CPU caches, and ONNX Runtime's memory arena grows with them), measured with bench/scale.py
SCORING_ROWS = 1000


class ArchiveError(ValueError):
    """An archive that cannot be scored; the message names the file, and where in it."""


@dataclass(frozen=True)
class Partition:
    number: int  # its place among all partitions: the output file's name
    path: str
    row_group: int
    first_index: int  # the archive-wide index of its first row
    rows: int


def archive_files(source: Path) -> list[Path]:
    """A Parquet file, or every Parquet file in a directory (sorted by name)."""
    if source.is_dir():
        files = sorted(path for path in source.iterdir() if path.suffix == PARQUET_SUFFIX)
        if not files:
            raise ArchiveError(f"{source}: has no {PARQUET_SUFFIX} files")
        return files
    if not source.is_file():
        raise ArchiveError(f"{source}: no such file or directory")
    return [source]


def plan_partitions(
    source: Path, input_length: int, keep: tuple[str, ...]
) -> tuple[list[Partition], list[str]]:
    """Every row group of the archive, and the sample columns, from the files' metadata only.

    Every file must have the same columns: `input_length` numeric sample columns besides `keep`.
    """
    partitions: list[Partition] = []
    sample_columns: list[str] | None = None
    for path in archive_files(source):
        try:
            parquet = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as exc:
            raise ArchiveError(f"{path}: not a readable Parquet file ({exc})") from None
        columns = _sample_columns(path, parquet.schema_arrow, input_length, keep)
        if sample_columns is not None and columns != sample_columns:
            raise ArchiveError(f"{path}: has other sample columns than the files before it")
        sample_columns = columns
        metadata = parquet.metadata
        for group in range(metadata.num_row_groups):
            rows = metadata.row_group(group).num_rows
            first = partitions[-1].first_index + partitions[-1].rows if partitions else 0
            partitions.append(Partition(len(partitions), str(path), group, first, rows))
    return partitions, sample_columns or []


def _sample_columns(
    path: Path, schema: pa.Schema, input_length: int, keep: tuple[str, ...]
) -> list[str]:
    missing = [name for name in keep if name not in schema.names]
    if missing:
        raise ArchiveError(f"{path}: has no column {missing[0]!r} (--keep)")
    samples = [field for field in schema if field.name not in keep]
    not_numeric = [
        f.name for f in samples if not (pa.types.is_floating(f.type) or pa.types.is_integer(f.type))
    ]
    if not_numeric:
        raise ArchiveError(
            f"{path}: column {not_numeric[0]!r} is not numeric; the sample columns must be "
            "numbers (name other columns with --keep)"
        )
    if len(samples) != input_length:
        raise ArchiveError(
            f"{path}: has {len(samples)} sample columns, the model takes {input_length} "
            "(one column per sample; name other columns with --keep)"
        )
    return [field.name for field in samples]


def score_frame(
    scorer: Scorer, point: OperatingPoint, samples: pd.DataFrame, first_index: int = 0
) -> pd.DataFrame:
    """Score a pandas frame of beats (one row each, one column per sample), as Spark's
    `mapInPandas` hands them over; `ArchiveError` names a bad row by its index."""
    with np.errstate(over="ignore"):  # beyond float32: inf, refused in score_beats
        beats = samples.to_numpy(dtype=np.float32, na_value=np.nan)
    columns = [str(name) for name in samples.columns]
    return score_beats(scorer, point, beats, columns, first_index).to_pandas()


def score_beats(
    scorer: Scorer,
    point: OperatingPoint,
    beats: npt.NDArray[np.float32],
    columns: list[str],
    first_index: int,
) -> pa.Table:
    """The result columns for a block of beats whose first row is `first_index`, scored
    SCORING_ROWS at a time: the same errors as one call, as each beat is scored on its own."""
    _check_finite(beats, columns, first_index)
    errors = np.empty(len(beats), dtype=np.float64)
    for start in range(0, len(beats), SCORING_ROWS):
        try:
            errors[start : start + SCORING_ROWS] = scorer.score(
                beats[start : start + SCORING_ROWS]
            ).errors
        except UnscorableBeatsError as exc:
            row = first_index + start + exc.indices[0]
            raise ArchiveError(f"row {row}: has samples too large for the model to score") from None
    flags = errors > point.threshold  # as Scores.is_anomaly
    return pa.table(
        {
            "index": np.arange(first_index, first_index + len(beats), dtype=np.int64),
            "reconstruction_error": errors,
            "is_anomaly": flags,
            "verdict": pa.array(np.where(flags, "abnormal", "normal")),
        }
    )


def _check_finite(beats: npt.NDArray[np.float32], columns: list[str], first_index: int) -> None:
    finite = np.isfinite(beats)
    if not finite.all():
        row, column = (int(i) for i in np.argwhere(~finite)[0])
        raise ArchiveError(
            f"row {first_index + row}, column {columns[column]!r}: is missing or not a "
            "finite number within float32 range"
        )


def _batch_beats(batch: pa.RecordBatch, columns: list[str]) -> npt.NDArray[np.float32]:
    """The sample columns of an Arrow batch as a float32 matrix; nulls become NaN."""
    beats = np.empty((batch.num_rows, len(columns)), dtype=np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        for position, name in enumerate(columns):
            beats[:, position] = batch.column(name).to_numpy(zero_copy_only=False)
    return beats


def score_partition(
    scorer: Scorer,
    point: OperatingPoint,
    partition: Partition,
    sample_columns: list[str],
    keep: tuple[str, ...],
    output_dir: Path,
    batch_rows: int,
) -> tuple[int, int]:
    """Score one partition into `output_dir/part-NNNNNN.parquet`; returns (rows, abnormal)."""
    where = f"{partition.path}, row group {partition.row_group}"
    target = output_dir / f"part-{partition.number:06d}{PARQUET_SUFFIX}"
    rows = abnormal = 0
    writer: pq.ParquetWriter | None = None
    try:
        batches = pq.ParquetFile(partition.path).iter_batches(
            batch_size=batch_rows,
            row_groups=[partition.row_group],
            columns=sample_columns + list(keep),
        )
        for batch in batches:
            first = partition.first_index + rows
            table = score_beats(
                scorer, point, _batch_beats(batch, sample_columns), sample_columns, first
            )
            for name in keep:
                table = table.append_column(name, batch.column(name))
            writer = writer or pq.ParquetWriter(target, table.schema)
            writer.write_table(table)
            rows += table.num_rows
            abnormal += int(np.count_nonzero(table.column("is_anomaly").to_numpy()))
    except ArchiveError as exc:
        raise ArchiveError(f"{where}: {exc}") from None
    except (OSError, pa.ArrowException) as exc:
        raise ArchiveError(f"{where}: cannot be read ({exc})") from None
    finally:
        if writer is not None:
            writer.close()
    return rows, abnormal
