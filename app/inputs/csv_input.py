"""CSV bodies and files to beats: one beat per row, optionally followed by one label column.

No FastAPI here: `POST /v1/predict/csv` and the offline scorer (`ecg-score`) read rows through
`CsvBeatReader`, so a row is read, labelled, resampled or refused the same way in both.

The layout of a file:

- an optional header: a first row whose cells, apart from the last (a label column's name), are
  mostly not numbers (`t0,t1,...,t139,label`). A first row of numbers with a typo or two is a
  beat, reported as bad; a header of numbers (`0,1,...,139`) cannot be told from a beat and is
  read as one.
- rows of the model's input length, optionally followed by ONE label column, echoed back as
  given (a string). Without resampling, the first row of `input_length` or `input_length + 1`
  cells fixes the layout and every row must have that many cells.
- with `resample`, rows of 2 to 10,000 samples are linearly interpolated to the
  input length (np.interp over evenly spaced positions). Their rows hold a label when the header's
  last name is `label` or the first row's last cell is not a number.

Problems name the line (1-based, counting the header) and the column (1-based). Lines are
split on LF or CRLF; a line over 1 MiB is refused before it is parsed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt

from app.inputs.decoding import MAX_RESAMPLE_LENGTH, MIN_RESAMPLE_LENGTH, UTF8_BOM, resample_beat
from app.inputs.problems import MAX_DESCRIBED_PROBLEMS, BadRequest, Problem

LABEL_NAME = "label"
MAX_LINE_BYTES = 1 << 20  # a beat of 140 samples takes about 3 KB


class CsvFormatError(ValueError):
    """Input that cannot be read as CSV at all (not UTF-8, a malformed quoted field)."""

    def __init__(self, line: int, message: str) -> None:
        self.line, self.message = line, message
        super().__init__(f"line {line}: {message}")


class TooManyLinesError(CsvFormatError):
    """More lines (blank ones included) than a request may hold."""


@dataclass(frozen=True)
class RowProblem:
    """A data row that cannot be scored, and why."""

    index: int  # position among the data rows, 0-based
    line: int  # 1-based, counting the header
    column: int | None  # 1-based; None when the row as a whole is wrong
    message: str

    @property
    def location(self) -> str:
        return f"line {self.line}" + ("" if self.column is None else f", column {self.column}")

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"

    def as_problem(self) -> Problem:
        sample = None if self.column is None else self.column - 1
        return Problem(self.location, self.message, self.index, sample)


@dataclass(frozen=True)
class CsvRow:
    index: int  # position among the data rows, 0-based
    line: int
    samples: npt.NDArray[np.float32]  # input_length samples, resampled if asked
    label: str | None
    resampled_from: int | None  # the row's own length, when it was resampled


def utf8_lines(source: BinaryIO, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[str]:
    """The lines of a binary stream (line endings kept) decoded as UTF-8, a leading BOM dropped.

    `CsvFormatError` names the byte offset (from the start of the input) of the first byte that
    is not UTF-8, or a line longer than `max_line_bytes` (read no further than that).
    """
    offset = 0
    number = 0
    while raw := source.readline(max_line_bytes + 1):
        number += 1
        if len(raw) > max_line_bytes:
            raise CsvFormatError(number, f"is longer than {max_line_bytes:,} bytes")
        data = raw
        if number == 1 and raw.startswith(UTF8_BOM):
            data, offset = raw[len(UTF8_BOM) :], len(UTF8_BOM)
        try:
            yield data.decode("utf-8")
        except UnicodeDecodeError as exc:
            at = offset + exc.start
            message = (
                f"byte {data[exc.start]:#04x} at byte offset {at} is not UTF-8; send UTF-8 text"
            )
            raise CsvFormatError(number, message) from None
        offset += len(data)


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


class CsvBeatReader:
    """The data rows of a CSV, one `CsvRow` or `RowProblem` each (blank lines are skipped).

    After iteration, `header` is the header row (or None) and `has_labels` whether rows carried a
    label column. Raises `CsvFormatError` for input that is not CSV text.
    """

    def __init__(
        self,
        lines: Iterable[str],
        input_length: int,
        resample: bool = False,
        resample_hint: str = "send resample=true",
        max_lines: int | None = None,
    ) -> None:
        self._lines = lines
        self.max_lines = max_lines
        self.resample_hint = resample_hint
        self.input_length = input_length
        self.resample = resample
        self.header: list[str] | None = None
        self.has_labels: bool | None = None
        self._columns: int | None = None  # fixed by the first row of a valid width (no resample)
        self._columns_line = 0

    def __iter__(self) -> Iterator[CsvRow | RowProblem]:
        reader = csv.reader(self._lines, strict=True)
        index = 0
        first = True
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise CsvFormatError(reader.line_num, f"is not valid CSV ({exc})") from None
            line = reader.line_num
            if self.max_lines is not None and line > self.max_lines:
                raise TooManyLinesError(line, f"more than {self.max_lines:,} lines")
            if len(cells) <= 1 and not "".join(cells).strip():
                continue  # a blank line
            if first:
                first = False
                if self._is_header(cells):
                    self.header = cells
                    continue
            yield self._row(index, line, cells)
            index += 1

    def _is_header(self, cells: list[str]) -> bool:
        """Whether the first row is names: most of its cells, a label column's aside, are not
        numbers (a row of numbers with a typo or two is a beat, and reported as bad)."""
        names = cells[:-1] if len(cells) > 1 else cells
        return sum(not is_number(cell) for cell in names) * 2 > len(names)

    def _row(self, index: int, line: int, cells: list[str]) -> CsvRow | RowProblem:
        layout = self._layout(index, line, cells)
        if isinstance(layout, RowProblem):
            return layout
        label = cells[-1] if layout else None
        sample_cells = cells[:-1] if layout else cells
        values = _parse_samples(index, line, sample_cells)
        if isinstance(values, RowProblem):
            return values
        length = len(values)
        if length == self.input_length:
            return CsvRow(index, line, values, label, None)
        return CsvRow(index, line, resample_beat(values, self.input_length), label, length)

    def _layout(self, index: int, line: int, cells: list[str]) -> bool | RowProblem:
        """Whether this row ends with a label, or why its width is wrong."""
        count, length = len(cells), self.input_length
        if self.resample:
            if self.has_labels is None:
                named = self.header is not None and self.header[-1].strip().lower() == LABEL_NAME
                self.has_labels = named or not is_number(cells[-1])
            samples = count - self.has_labels
            if samples < MIN_RESAMPLE_LENGTH:
                message = (
                    f"has {samples} samples; a beat needs at least {MIN_RESAMPLE_LENGTH} "
                    "to be resampled"
                )
                return RowProblem(index, line, None, message)
            if samples > MAX_RESAMPLE_LENGTH:
                message = f"has {samples:,} samples; at most {MAX_RESAMPLE_LENGTH:,} are resampled"
                return RowProblem(index, line, None, message)
            return self.has_labels
        if self._columns is None and count in (length, length + 1):
            self._columns, self._columns_line = count, line
            self.has_labels = count == length + 1
        if self._columns is None:
            message = (
                f"has {count} columns; the model expects {length} samples, optionally followed "
                f"by one label column ({self.resample_hint} to resample beats of other lengths)"
            )
            return RowProblem(index, line, None, message)
        if count != self._columns:
            message = (
                f"has {count} columns; expected {self._columns} like line {self._columns_line} "
                f"({length} samples{', then a label' if self.has_labels else ''}; "
                f"{self.resample_hint} to resample beats of other lengths)"
            )
            return RowProblem(index, line, None, message)
        return bool(self.has_labels)


def _parse_samples(index: int, line: int, cells: list[str]) -> npt.NDArray[np.float32] | RowProblem:
    try:
        numbers = [float(cell) for cell in cells]
    except ValueError:
        column = next(i for i, cell in enumerate(cells) if not is_number(cell))
        shown = cells[column][:20]
        reason = "is empty" if not cells[column].strip() else f"is not a number ({shown!r})"
        return RowProblem(index, line, column + 1, reason)
    with np.errstate(over="ignore"):  # beyond float32: inf, refused just below
        values = np.array(numbers, dtype=np.float32)
    finite = np.isfinite(values)
    if not finite.all():
        column = int(np.argmin(finite))
        message = f"must be a finite number within float32 range, got {cells[column][:20]!r}"
        return RowProblem(index, line, column + 1, message)
    return values


@dataclass(frozen=True)
class CsvBeats:
    beats: npt.NDArray[np.float32]
    labels: list[str] | None
    resampled_from: list[int | None]  # per beat: its own length when it was resampled


def decode_csv_beats(
    body: bytes,
    input_length: int,
    max_beats: int,
    resample: bool = False,
    resample_hint: str = "send resample=true",
) -> CsvBeats:
    """A CSV body as beats, or a `BadRequest`: 413 past `max_beats` rows, else 422 naming lines
    and columns (at most 20 bad rows described, the rest counted). `resample_hint` says how the
    caller asks for resampling (the page at / has a checkbox)."""
    # blank lines are skipped, but not without end: at most one per beat, plus a header
    max_lines = 2 * max_beats + 1
    lines = utf8_lines(io.BytesIO(body))
    reader = CsvBeatReader(lines, input_length, resample, resample_hint, max_lines)
    rows: list[CsvRow] = []
    problems: list[Problem] = []
    bad = 0
    try:
        for count, row in enumerate(reader, start=1):
            if count > max_beats:
                message = (
                    f"has more than {max_beats} rows; the limit is {max_beats} (ECG_MAX_BEATS)"
                )
                raise BadRequest(413, "Too many beats", [Problem("body", message)])
            if isinstance(row, RowProblem):
                bad += 1
                if len(problems) < MAX_DESCRIBED_PROBLEMS:
                    problems.append(row.as_problem())
            elif not bad:  # once a row is bad, the rest are only checked
                rows.append(row)
    except TooManyLinesError:
        message = (
            f"has more than {max_lines:,} lines: at most {max_beats:,} beats (ECG_MAX_BEATS), "
            "a header and a blank line per beat"
        )
        raise BadRequest(413, "Too many beats", [Problem("body", message)]) from None
    except CsvFormatError as exc:
        raise BadRequest(422, "Invalid CSV", [Problem(f"line {exc.line}", exc.message)]) from None
    if bad:
        raise BadRequest(422, "Invalid CSV", problems, more=bad - len(problems))
    if not rows:
        what = "has a header row but no beats" if reader.header else "is empty"
        message = f"{what}; send one beat per row ({input_length} samples, optionally a label)"
        raise BadRequest(422, "Invalid CSV", [Problem("body", message)])
    return CsvBeats(
        beats=np.stack([row.samples for row in rows]),
        labels=[row.label or "" for row in rows] if reader.has_labels else None,
        resampled_from=[row.resampled_from for row in rows],
    )


RESULT_COLUMNS = ("index", "reconstruction_error", "is_anomaly", "verdict")


def result_columns(labels: bool, resampled: bool) -> list[str]:
    return [
        *RESULT_COLUMNS,
        *(["label"] if labels else []),
        *(["resampled_from"] if resampled else []),
    ]


def result_cells(result: dict[str, Any], columns: list[str]) -> list[str]:
    """One result (as in a /v1/predict response) as CSV cells in `columns`' order."""
    cells = []
    for column in columns:
        value = result.get(column)
        if value is None:
            cells.append("")
        elif isinstance(value, bool):
            cells.append("true" if value else "false")
        elif isinstance(value, float):
            cells.append(repr(value))
        else:
            cells.append(str(value))
    return cells


def results_csv(results: list[dict[str, Any]], labels: bool, resampled: bool) -> str:
    """Results as CSV: index, reconstruction_error, is_anomaly, verdict, then label and
    resampled_from when asked."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = result_columns(labels, resampled)
    writer.writerow(columns)
    writer.writerows(result_cells(result, columns) for result in results)
    return out.getvalue()
