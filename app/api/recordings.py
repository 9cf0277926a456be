"""POST /v1/recordings: a continuous recording in, a verdict per beat found out.

The route only moves bytes: the upload is read by `app.inputs.recording_files`, analysed by
`app.recordings.analysis` and reported by `app.recordings.report`, in a worker thread, so that
/health and /ready keep answering while a long recording is scored.

The readers and the analysis (wfdb, pandas, pyedflib, SciPy, SleepECG: about 100 MB) are imported
on the first recording, not at start-up: a service that only scores beats never loads them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from app.api.routes import (
    CSV_TYPE,
    MULTIPART_TYPE,
    RawRequestRoute,
    json_or_csv_responses,
    json_response,
    post_for_every_model,
    query_parameters,
    wants_csv,
)
from app.api.schemas import RecordingOptions, RecordingResponse
from app.api.serving import loaded_scorer, model_name_of, settings_of
from app.inference.scoring import Scorer, operating_point
from app.inputs.decoding import decode_query
from app.inputs.problems import BadRequest, Problem
from app.inputs.uploads import UploadedFile
from app.ops.telemetry import Telemetry, record_scoring
from app.recordings.report import beats_csv, recording_document
from app.recordings.signal import Recording

recordings_router = APIRouter(route_class=RawRequestRoute)
FILES_FIELD = "files"
MAX_UPLOADED_FILES = 16

RECORDINGS_OPENAPI: dict[str, Any] = {
    "parameters": query_parameters(RecordingOptions),
    "requestBody": {
        "required": True,
        "content": {
            MULTIPART_TYPE: {
                "schema": {
                    "type": "object",
                    "required": [FILES_FIELD],
                    "properties": {
                        FILES_FIELD: {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "A WFDB record (100.hea and 100.dat, optionally "
                            "100.atr), one EDF/EDF+ file, or one CSV of samples (one column "
                            "per lead; give sampling_rate).",
                        }
                    },
                }
            },
            "application/json": {
                "schema": {"$ref": "#/components/schemas/RecordingBody"},
                "example": {"sampling_rate": 360, "leads": {"MLII": [-0.145, -0.145, -0.145]}},
            },
        },
    },
}
RECORDING_RESPONSES = json_or_csv_responses(
    "A verdict per beat found; with `Accept: text/csv`, one CSV row per beat (index, time_s, "
    "rr_s, heart_rate_bpm, reconstruction_error, anomaly_score, verdict, reasons)."
)


@post_for_every_model(
    recordings_router,
    "/v1/recordings",
    response_model=RecordingResponse,
    responses=RECORDING_RESPONSES,
    tags=["recordings"],
    openapi_extra=RECORDINGS_OPENAPI,
)
async def recordings(request: Request) -> Response:
    """Score a continuous recording: find its beats, cut each the way the model's training beats
    were cut, score it, and time it (R peak, RR interval, heart rate).

    Upload a WFDB record, an EDF/EDF+ file or a CSV as `files` of a multipart form, or send the
    samples as JSON. A WFDB annotation file uploaded with the record (`100.atr`) adds a comparison
    of the beats found with the annotated ones. `warnings` says when the model does not describe
    this person (its verdicts are then about another heart) and which stretches could not be
    trusted.
    """
    scorer = loaded_scorer(request)
    options = decode_query(request.query_params, RecordingOptions)
    recording = await uploaded_recording(request, options.sampling_rate)
    max_duration = settings_of(request).max_recording_s
    document = await asyncio.to_thread(analyse, recording, options, scorer, max_duration)
    summary = document["summary"]
    scored = (summary["n_beats"] - summary["n_unscored"], summary["n_abnormal"])
    telemetry: Telemetry = request.app.state.telemetry
    record_scoring(request.scope, telemetry, model_name_of(request), scored, None)
    if wants_csv(request.headers.get("accept", "")):
        headers = {"x-model-version": scorer.metadata.model_version}
        return Response(beats_csv(document), media_type=CSV_TYPE, headers=headers)
    return json_response(document)


def analyse(
    recording: Recording, options: RecordingOptions, scorer: Scorer, max_duration_s: float
) -> dict[str, Any]:
    # on first use: see the module's doc
    from app.recordings.analysis import analyse_upload, timing_rule

    point = operating_point(scorer.metadata, k=options.k, threshold=options.threshold)
    timing = timing_rule(scorer.metadata, options.premature_below)
    analysis = analyse_upload(recording, options.lead, scorer, point, max_duration_s, timing)
    return recording_document(analysis)


async def uploaded_recording(request: Request, sampling_rate: float | None) -> Recording:
    from app.inputs.recording_files import read_json_recording, read_uploaded_recording

    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "application/json":
        return await asyncio.to_thread(read_json_recording, await request.body())
    if media_type != MULTIPART_TYPE:
        message = (
            f"content type {media_type!r} is not accepted; upload the recording's files as the "
            f"{FILES_FIELD!r} field of a {MULTIPART_TYPE} form, or send its samples as JSON"
        )
        raise BadRequest(415, "Unsupported media type", [Problem("body", message)])
    async with request.form(max_files=MAX_UPLOADED_FILES, max_fields=1) as form:
        unknown = sorted(set(form.keys()) - {FILES_FIELD})
        if unknown:
            problems = [Problem(f"form.{key}", "is not an accepted field") for key in unknown]
            raise BadRequest(422, "Invalid request", problems)
        uploads = []
        for item in form.getlist(FILES_FIELD):
            if not isinstance(item, UploadFile):
                raise BadRequest(
                    422, "Invalid request", [Problem(f"form.{FILES_FIELD}", "must be files")]
                )
            uploads.append(UploadedFile(item.filename or "", await item.read()))
    return await asyncio.to_thread(read_uploaded_recording, uploads, sampling_rate)
