"""The recordings page at `/recordings`: upload a recording, look at it whole, then at its beats.

Read and analysed by the same code as `POST /v1/recordings` (`app.inputs.recording_files`,
`app.recordings.analysis`, `app.recordings.report`), so the page and the API agree; drawn on the
server as SVG (`app.web.recording_charts`, `app.web.charts`), with no script. Like the API's
route, it imports the readers and the analysis on the first recording (`app.api.recordings`).
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from app.api.serving import settings_of
from app.inference.scoring import Scorer, operating_point
from app.inputs.problems import BadRequest, Problem
from app.inputs.uploads import UploadedFile
from app.recordings.report import beats_csv, recording_document
from app.web.charts import beat_chart_svg
from app.web.page import (
    MODEL_FIELD,
    PAGE_HEADERS,
    RESULTS_HEADERS,
    Failure,
    chosen_scorer,
    failure_of,
    model_choice,
    templates,
)
from app.web.recording_charts import overview_svg, strip_svgs

if TYPE_CHECKING:
    from app.recordings.analysis import RecordingAnalysis

recording_page_router = APIRouter()
FILES_FIELD, LEAD_FIELD, RATE_FIELD = "files", "lead", "sampling_rate"
MAX_FILES = 16
# Charts of flagged beats drawn on the page; the CSV download lists every beat.
MAX_BEAT_CHARTS = 40
DOWNLOAD_NAME = "ecg-recording-beats.csv"


@dataclass(frozen=True)
class RecordingForm:
    files: list[UploadedFile]
    lead: str | None = None
    sampling_rate: float | None = None
    model: str | None = None

    @property
    def source(self) -> str:
        return ", ".join(upload.name for upload in self.files) or "the form"


@dataclass(frozen=True)
class FlaggedBeat:
    index: int
    time_s: float
    reasons: list[str]
    chart: str


@dataclass(frozen=True)
class RecordingResults:
    source: str
    summary: dict[str, Any]
    warnings: list[str]
    annotations: dict[str, Any] | None
    bad_stretches: list[Any]
    baseline: tuple[float, float] | None
    overview: str
    strips: list[tuple[float, str]]
    flagged: list[FlaggedBeat]
    n_flagged: int
    csv_data_url: str


@recording_page_router.get("/recordings", include_in_schema=False)
async def recording_page(request: Request) -> Response:
    return await render(request)


@recording_page_router.post("/recordings", include_in_schema=False)
async def score_recording_page(request: Request) -> Response:
    form: RecordingForm | None = None
    try:
        form = await read_form(request)
        scorer = chosen_scorer(request, form.model)
        results = await asyncio.to_thread(analyse_form, request, scorer, form)
    except BadRequest as exc:
        chosen = form.model if form else None
        return await render(request, failure=failure_of(exc, None), model=chosen)
    return await render(request, results=results, model=form.model)


async def read_form(request: Request) -> RecordingForm:
    async with request.form(max_files=MAX_FILES, max_fields=5) as form:
        uploads = [
            UploadedFile(item.filename or "", await item.read())
            for item in form.getlist(FILES_FIELD)
            if isinstance(item, UploadFile) and (item.filename or item.size)
        ]
        lead = str(form.get(LEAD_FIELD) or "").strip() or None
        rate_text = str(form.get(RATE_FIELD) or "").strip()
        model = str(form.get(MODEL_FIELD) or "") or None
    if not uploads:
        message = "choose the recording's file(s), then press Score"
        raise BadRequest(422, "Nothing to score", [Problem("form", message)])
    try:
        rate = float(rate_text) if rate_text else None
    except ValueError:
        message = f"{rate_text!r} is not a number of samples per second"
        raise BadRequest(422, "Invalid form", [Problem("sampling rate", message)]) from None
    return RecordingForm(uploads, lead, rate, model)


def analyse_form(request: Request, scorer: Scorer, form: RecordingForm) -> RecordingResults:
    from app.inputs.recording_files import read_uploaded_recording
    from app.recordings.analysis import analyse_upload, baseline_stretch_of, timing_rule

    recording = read_uploaded_recording(form.files, form.sampling_rate)
    point = operating_point(scorer.metadata)
    max_duration = settings_of(request).max_recording_s
    timing = timing_rule(scorer.metadata, None)
    analysis = analyse_upload(recording, form.lead, scorer, point, max_duration, timing)
    document = recording_document(analysis)
    csv_text = beats_csv(document)
    flagged = [row for row in analysis.rows if row.verdict == "abnormal"]
    baseline = baseline_stretch_of(scorer.metadata, recording)
    return RecordingResults(
        source=form.source,
        summary=analysis.summary,
        warnings=analysis.warnings,
        annotations=analysis.comparison,
        bad_stretches=document["bad_stretches"],
        baseline=baseline,
        overview=overview_svg(
            analysis.rows, recording.duration_s, analysis.bad_stretches, baseline
        ),
        strips=strip_svgs(analysis.signal, recording.sampling_rate, analysis.rows),
        flagged=[
            flagged_beat(analysis, row.index, point.threshold) for row in flagged[:MAX_BEAT_CHARTS]
        ],
        n_flagged=len(flagged),
        csv_data_url="data:text/csv;base64," + base64.b64encode(csv_text.encode()).decode(),
    )


def flagged_beat(analysis: RecordingAnalysis, index: int, threshold: float) -> FlaggedBeat:
    """An abnormal beat as the model saw it (cut, aligned, normalised) beside its reconstruction."""
    scores, row = analysis.scores, analysis.rows[index]
    chart = beat_chart_svg(
        scores.normalised[index].tolist(),
        scores.reconstructions[index].tolist(),
        scores.sample_errors(index).tolist(),
        row.verdict,
        index=index,
        error=float(scores.errors[index]),
        threshold=threshold,
    )
    return FlaggedBeat(index, row.time_s, row.reasons, chart)


async def render(
    request: Request,
    results: RecordingResults | None = None,
    failure: Failure | None = None,
    model: str | None = None,
) -> Response:
    choice = model_choice(request, model)
    context = {
        "results": results,
        "failure": failure,
        "model": choice.metadata,
        "models": choice,
        "max_minutes": settings_of(request).max_recording_s / 60,
        "download_name": DOWNLOAD_NAME,
    }
    status = failure.status if failure else 200
    headers = PAGE_HEADERS if request.method == "GET" else RESULTS_HEADERS
    return await asyncio.to_thread(
        templates.TemplateResponse, request, "recording.html", context, status, headers
    )
