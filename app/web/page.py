"""The page for people at `/`: upload beats, see verdicts and charts, glance at the model.

Everything it needs is served here (no CDN, no web font, no script): the services run on hospital
and lab networks without internet. Beats are read, scored and explained by the same code as the
API (`app.inputs.csv_input`, `app.inference.scoring`, `app.api.schemas`), so the page and
`/v1/predict/csv` agree.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, HTTPException, Request
from fastapi import Path as PathParameter
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.routes import problem_doc
from app.api.schemas import predict_response_body
from app.api.serving import loaded_registry, loaded_scorer, score_beats, settings_of
from app.inference.artifact import ModelMetadata
from app.inference.registry import UnknownModelError
from app.inference.scoring import Scorer, UnscorableBeatsError, operating_point
from app.inputs.csv_input import MAX_LINE_BYTES, decode_csv_beats, results_csv
from app.inputs.problems import BadRequest, Problem
from app.web.charts import beat_chart_svg

PACKAGE_DIR = Path(__file__).resolve().parent
STATIC_DIR = PACKAGE_DIR / "static"
TEMPLATES_DIR = PACKAGE_DIR / "templates"

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
}
# Results describe uploaded (possibly patient) beats: no cache keeps a copy.
RESULTS_HEADERS = {**PAGE_HEADERS, "cache-control": "no-store"}
FILE_FIELD, TEXT_FIELD, RESAMPLE_FIELD, MODEL_FIELD = "file", "beat", "resample", "model"
DOWNLOAD_NAME = "ecg-verdicts.csv"
# Pasted text is held in memory whole: room for the page's 1,000 beats as CSV rows, no more.
MAX_PASTED_BYTES = 2 << 20
# in the page's order: the held-out evaluation first, then how training went
PLOT_CAPTIONS = {
    "error_histogram.png": "Reconstruction error of the held-out beats, and the threshold",
    "roc.png": "ROC curve on the held-out beats",
    "precision_recall.png": "Precision and recall on the held-out beats",
    "loss.png": "Training and validation loss per epoch",
    "reconstructions.png": "Example held-out beats and their reconstructions",
}

page_router = APIRouter()
templates = Jinja2Templates(directory=TEMPLATES_DIR)


@dataclass(frozen=True)
class PageForm:
    """What the form sent: a CSV file, else pasted text, and whether to resample."""

    file_name: str | None = None
    file_bytes: bytes | None = None
    text: str = ""
    resample: bool = False
    model: str | None = None  # by name; None: the default model

    @property
    def source(self) -> str | None:
        """Where the beats come from, as problems and results name it."""
        if self.file_bytes is not None:
            return f"the uploaded file {self.file_name}"
        if not self.text.strip():
            return None
        return "the pasted text" if "," in self.text else "the pasted beat"

    @property
    def field(self) -> str:
        """The form field the beats were read from."""
        return "file" if self.file_bytes is not None else "pasted text"

    def csv(self) -> bytes:
        """The CSV to score: the file, else the pasted text, where text without a comma is one
        beat of whitespace-separated numbers. A `BadRequest` when there is neither."""
        if self.file_bytes is not None:
            return self.file_bytes
        if not self.text.strip():
            message = "choose a CSV file of beats or paste one beat, then press Score"
            raise BadRequest(422, "Nothing to score", [Problem("form", message)])
        if "," in self.text:
            return self.text.encode()
        if len(self.text) > MAX_LINE_BYTES:  # checked before splitting: a string per number
            message = f"is longer than one beat can be ({MAX_LINE_BYTES:,} characters)"
            raise BadRequest(413, "Too much pasted text", [Problem("pasted text", message)])
        return ",".join(self.text.split()).encode()


@dataclass(frozen=True)
class Failure:
    """Why the form could not be scored, as shown above it."""

    status: int
    title: str
    source: str | None
    problems: list[Problem]
    more: int = 0


@dataclass(frozen=True)
class BeatRow:
    index: int
    label: str | None
    resampled_from: int | None
    error: float
    threshold_multiple: float
    verdict: str
    chart: str  # an SVG from app.web.charts: numbers and escaped text only


@dataclass(frozen=True)
class PageResults:
    source: str
    threshold: float
    threshold_rule: str
    rows: list[BeatRow]
    has_labels: bool
    resampled: bool
    csv_data_url: str
    ignored_text: bool = False
    abnormal: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "abnormal", sum(row.verdict == "abnormal" for row in self.rows))


@page_router.get("/", include_in_schema=False)
async def page(request: Request) -> Response:
    """The page: the upload form and a glance at the model."""
    return await render(request, PageForm())


@page_router.post("/", include_in_schema=False)
async def score_page(request: Request) -> Response:
    """The page with the verdicts of the beats sent through its form, or what is wrong with them."""
    max_beats = settings_of(request).page_max_beats
    form = PageForm()
    try:
        form = await read_form(request)
        scorer = chosen_scorer(request, form.model)
        # decoding, scoring and charts take a while for a large file: /health keeps answering
        results = await asyncio.to_thread(score_form, request, scorer, form, max_beats)
    except BadRequest as exc:
        return await render(request, form, failure=failure_of(exc, form.source))
    except UnscorableBeatsError as exc:
        message = "has samples too large for the model to score (its arithmetic overflows)"
        problems = [Problem(f"beat {index}", message, index) for index in exc.indices]
        failure = failure_of(BadRequest(422, "Invalid beats", problems), form.source)
        return await render(request, form, failure=failure)
    return await render(request, form, results=results)


async def read_form(request: Request) -> PageForm:
    try:
        async with request.form(max_files=1, max_fields=5, max_part_size=MAX_PASTED_BYTES) as form:
            upload, text = form.get(FILE_FIELD), form.get(TEXT_FIELD)
            resample = form.get(RESAMPLE_FIELD) is not None
            pasted = text if isinstance(text, str) else ""
            model = str(form.get(MODEL_FIELD) or "") or None
            if isinstance(upload, UploadFile) and (upload.filename or upload.size):
                content = await upload.read()
                return PageForm(upload.filename or "(unnamed)", content, pasted, resample, model)
            return PageForm(text=pasted, resample=resample, model=model)
    except StarletteHTTPException as exc:
        if exc.status_code != 400:  # a body too large or too slow: the middleware's answer
            raise
        raise BadRequest(400, "Invalid form", [Problem("form", str(exc.detail))]) from None


def score_form(request: Request, scorer: Scorer, form: PageForm, max_beats: int) -> PageResults:
    """Decode, score and chart the beats exactly as /v1/predict/csv would (explained); they
    count in the metrics like the API's."""
    hint = "tick “Resample” on the form"
    body = form.csv()
    try:
        decoded = decode_csv_beats(body, scorer.input_length, max_beats, form.resample, hint)
    except BadRequest as exc:
        if exc.status != 413:
            raise
        message = (
            f"has more than {max_beats:,} beats; this page scores at most {max_beats:,} at a time "
            "(ECG_PAGE_MAX_BEATS). POST /v1/predict/csv and ecg-score take larger files."
        )
        raise BadRequest(413, "Too many beats", [Problem(form.field, message)]) from None
    metadata = scorer.metadata
    point = operating_point(metadata)
    resampled_from = decoded.resampled_from if form.resample else None
    scores = score_beats(request, scorer, decoded.beats, point)
    document = predict_response_body(metadata, scores, point, True, decoded.labels, resampled_from)
    results: list[dict[str, Any]] = document["results"]
    csv_text = results_csv(results, decoded.labels is not None, form.resample)
    rows = [
        beat_row(result, beat, point.threshold)
        for result, beat in zip(results, decoded.beats, strict=True)
    ]
    return PageResults(
        source=form.source or "",
        threshold=point.threshold,
        threshold_rule=point.rule,
        rows=rows,
        has_labels=decoded.labels is not None,
        resampled=any(row.resampled_from is not None for row in rows),
        csv_data_url="data:text/csv;base64," + base64.b64encode(csv_text.encode()).decode(),
        ignored_text=form.file_bytes is not None and bool(form.text.strip()),
    )


def beat_row(result: dict[str, Any], beat: npt.NDArray[np.float32], threshold: float) -> BeatRow:
    error = result["reconstruction_error"]
    chart = beat_chart_svg(
        result.get("compared", beat.tolist()),  # the error is between these two
        result["reconstruction"],
        result["sample_errors"],
        result["verdict"],
        index=result["index"],
        error=error,
        threshold=threshold,
    )
    return BeatRow(
        index=result["index"],
        label=result.get("label"),
        resampled_from=result.get("resampled_from"),
        error=error,
        threshold_multiple=error / threshold,
        verdict=result["verdict"],
        chart=chart,
    )


@dataclass(frozen=True)
class ModelChoice:
    """The models a page offers, and the one chosen (the default one until a form says)."""

    names: list[str]
    chosen: str
    default: str
    metadata: ModelMetadata

    @property
    def is_default(self) -> bool:
        return self.chosen == self.default


def chosen_scorer(request: Request, name: str | None) -> Scorer:
    """The model a form picked, by name; an unknown one is a problem shown on the page."""
    try:
        return loaded_registry(request).get(name)
    except UnknownModelError as exc:
        message = f"{exc.name!r} is not a model of this service; the models are " + ", ".join(
            exc.available
        )
        raise BadRequest(422, "Unknown model", [Problem("model", message)]) from None


def model_choice(request: Request, name: str | None) -> ModelChoice:
    registry = loaded_registry(request)
    chosen = name if name in registry.scorers else registry.default_name
    return ModelChoice(
        registry.names, chosen, registry.default_name, registry.scorers[chosen].metadata
    )


def failure_of(exc: BadRequest, source: str | None) -> Failure:
    return Failure(exc.status, exc.title, source, exc.problems, exc.more)


async def render(
    request: Request,
    form: PageForm,
    results: PageResults | None = None,
    failure: Failure | None = None,
) -> Response:
    """The page, rendered in a thread: a thousand charts take a moment."""
    choice = model_choice(request, form.model)
    context = {
        "form": form,
        "results": results,
        "failure": failure,
        "model": choice.metadata,
        "models": choice,
        # the training report's plots are served for the default model (/v1/model/plots)
        "plots": plots_of(choice.metadata) if choice.is_default else [],
        "max_beats": settings_of(request).page_max_beats,
        "download_name": DOWNLOAD_NAME,
    }
    status = failure.status if failure else 200
    headers = PAGE_HEADERS if request.method == "GET" else RESULTS_HEADERS
    return await asyncio.to_thread(
        templates.TemplateResponse, request, "page.html", context, status, headers
    )


def plots_of(metadata: ModelMetadata) -> list[tuple[str, str]]:
    """(file name, caption) of each training plot in the model directory."""
    names = sorted(name for name in metadata.files if name.endswith(".png"))
    known = [name for name in PLOT_CAPTIONS if name in names]
    names = known + [name for name in names if name not in PLOT_CAPTIONS]
    return [
        (name, PLOT_CAPTIONS.get(name, name.removesuffix(".png").replace("_", " ")))
        for name in names
    ]


# The plots ecg-train writes, as the OpenAPI document's enumeration of names; the route itself
# answers 404 for any other name, and for one of these the loaded model does not have.
PlotName = Annotated[
    str,
    PathParameter(
        description="The plot's file name.", json_schema_extra={"enum": list(PLOT_CAPTIONS)}
    ),
]
PLOT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The plot, a PNG image.",
        "content": {"image/png": {"schema": {"type": "string", "format": "binary"}}},
    },
    404: problem_doc(),
    503: problem_doc(),
}


@page_router.get(
    "/v1/model/plots/{name}", tags=["model"], response_class=Response, responses=PLOT_RESPONSES
)
async def model_plot(request: Request, name: PlotName) -> Response:
    """One plot from the loaded model's training report (`loss.png`, `error_histogram.png`,
    `roc.png`, `precision_recall.png`, `reconstructions.png`): the PNG images listed in its
    metadata.json, as the page at `/` shows them."""
    metadata = loaded_scorer(request).metadata
    if not name.endswith(".png") or name not in metadata.files:
        raise HTTPException(404, f"No plot named {name!r}: the model has {plots_listed(metadata)}")
    path = settings_of(request).model_dir / name
    try:
        image = await asyncio.to_thread(path.read_bytes)
    except OSError:
        image = b""
    # a retrain may have replaced the directory since this model was loaded: the bytes checked
    # are the bytes served, and a plot of another model is never shown as this one's
    if hashlib.sha256(image).hexdigest() != metadata.files[name]:
        message = f"Plot {name!r} has changed since model {metadata.model_version} was loaded"
        raise HTTPException(404, f"{message}; reload the model (POST /v1/model/reload)")
    return Response(image, media_type="image/png", headers={"x-content-type-options": "nosniff"})


def plots_listed(metadata: ModelMetadata) -> str:
    return ", ".join(name for name, _ in plots_of(metadata)) or "no plots"
