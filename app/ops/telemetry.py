"""What the service tells its operators: Prometheus metrics and one JSON log line per request.

`Telemetry` owns the metrics, in a registry of its own (one per app, so test apps do not share
counters). `RequestTelemetry` is the pure ASGI middleware that times every request, gives it a
request id, and counts and logs it; routes that score beats add what they scored to the
request's `RequestRecord`. Metrics are per process: with several workers, scrape each replica
(see the README).
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from starlette.datastructures import Headers
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.inference.artifact import ModelMetadata

METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
REQUEST_ID_HEADER = "x-request-id"
# An incoming id is kept when it is safe to echo and to log: visible ASCII, at most 128 chars.
ACCEPTED_REQUEST_ID = re.compile(r"[!-~]{1,128}")
RECORD_KEY = "app.request_record"
# Sub-millisecond buckets: a 1-beat /v1/predict takes about 0.3 ms.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
INFERENCE_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5)
UNMATCHED_ROUTE = "unmatched"
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
CLIENT_CLOSED_REQUEST = 499

request_logger = logging.getLogger("app.requests")

disable_created_metrics()  # type: ignore[no-untyped-call]  # no `*_created` series: noise


class Telemetry:
    """The service's metrics, exposed at /metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)  # memory, CPU, open files
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Counter(
            "ecg_http_requests",
            "HTTP requests answered, by method, route template and status code.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "ecg_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, by method and route.",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.beats_scored = Counter(
            "ecg_beats_scored", "Beats scored, by model.", ["model"], registry=self.registry
        )
        self.beats_abnormal = Counter(
            "ecg_beats_abnormal",
            "Beats whose verdict was abnormal, by model.",
            ["model"],
            registry=self.registry,
        )
        self.inference = Histogram(
            "ecg_inference_duration_seconds",
            "Time the model took per scoring call (normalise, reconstruct, error), by model.",
            ["model"],
            buckets=INFERENCE_BUCKETS,
            registry=self.registry,
        )
        self._request_series: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self.model = Info("ecg_model", "The model being served.", registry=self.registry)
        self.reloads = Counter(
            "ecg_model_reloads",
            "Model reloads (POST /v1/model/reload or SIGHUP), by outcome.",
            ["outcome"],
            registry=self.registry,
        )

    def count_request(self, method: str, route: str, status: int, duration_s: float) -> None:
        # The labelled series are looked up once each: `labels()` costs microseconds a call.
        key = (method, route, status)
        series = self._request_series.get(key)
        if series is None:
            series = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
            )
            self._request_series[key] = series
        count, latency = series
        count.inc()
        latency.observe(duration_s)

    def model_loaded(self, metadata: ModelMetadata) -> None:
        self.model.info(
            {
                "model_version": metadata.model_version,
                "threshold": repr(metadata.threshold),
                "threshold_rule": metadata.threshold_rule.name,
                "input_length": str(metadata.input_length),
            }
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


@dataclass
class RequestRecord:
    """What a request's log line and metrics say about it; routes fill in the scoring part."""

    request_id: str
    status: int = 500  # until a response starts: an exception with no response is a 500
    beats: int | None = None
    abnormal: int | None = None


def record_of(scope: Scope) -> RequestRecord | None:
    record: RequestRecord | None = scope.get(RECORD_KEY)
    return record


def request_id_of(scope: Scope) -> str | None:
    record = record_of(scope)
    return None if record is None else record.request_id


def record_scoring(
    scope: Scope,
    telemetry: Telemetry,
    model: str,
    scored: tuple[int, int],
    inference_s: float | None,
) -> None:
    """Count a scoring call (`scored`: beats, of which abnormal) of the named model in the
    metrics and in the request's log line; `inference_s` None: a recording, whose analysis time
    is not one model call."""
    beats, abnormal = scored
    telemetry.beats_scored.labels(model).inc(beats)
    telemetry.beats_abnormal.labels(model).inc(abnormal)
    if inference_s is not None:
        telemetry.inference.labels(model).observe(inference_s)
    record = record_of(scope)
    if record is not None:
        record.beats = (record.beats or 0) + beats
        record.abnormal = (record.abnormal or 0) + abnormal


class RequestTelemetry:
    """Outermost middleware: request id, timing, the request metrics and the log line.

    It sees every request, including those refused by the other middleware (401, 408, 413), and
    adds `X-Request-ID` to every response: the client's own id when it sent an acceptable one.
    """

    def __init__(
        self, app: ASGIApp, telemetry: Telemetry, route_paths: Collection[str], static_url: str
    ) -> None:
        self.app = app
        self.telemetry = telemetry
        self.route_paths = frozenset(route_paths)
        self.static_url = static_url  # its files share one label

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        record = RequestRecord(_incoming_request_id(scope) or os.urandom(16).hex())
        scope[RECORD_KEY] = record
        id_header = (REQUEST_ID_HEADER.encode(), record.request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            # The client left before its body arrived: nothing to answer, and not a server error
            # (nginx's 499), so it neither counts as a 5xx nor logs a traceback.
            record.status = CLIENT_CLOSED_REQUEST
        finally:
            self._finish(scope, record, time.perf_counter() - started)

    def _finish(self, scope: Scope, record: RequestRecord, duration_s: float) -> None:
        method, route = method_label(scope["method"]), self._route_label(scope)
        self.telemetry.count_request(method, route, record.status, duration_s)
        if request_logger.isEnabledFor(logging.INFO):
            # A record made directly: `Logger.info` would also look up the calling file and line
            # by walking the stack, a third of the line's cost, to say what is always the same.
            fields = request_log_fields(scope, route, record, duration_s)
            args = (method, scope["path"], record.status)
            line = request_logger.makeRecord(
                request_logger.name, logging.INFO, __file__, 0, "%s %s %d", args, None, extra=fields
            )
            request_logger.handle(line)

    def _route_label(self, scope: Scope) -> str:
        """The route template that served a request (`/v1/model/plots/{name}`), so the metrics'
        label values stay few whatever paths clients try. A request refused before routing (401,
        408, 413) is labelled by its path when that is one of `route_paths`."""
        path = getattr(scope.get("route"), "path", None)
        if isinstance(path, str):
            return path
        if scope["path"] in self.route_paths:
            return str(scope["path"])
        if scope["path"].startswith(f"{self.static_url}/"):
            return self.static_url
        return UNMATCHED_ROUTE


def method_label(method: str) -> str:
    """The request method, or OTHER for one no route serves: a label value per made-up method
    would grow the metrics without bound."""
    return method if method in KNOWN_METHODS else "OTHER"


def request_log_fields(
    scope: Scope, route: str, record: RequestRecord, duration_s: float
) -> dict[str, Any]:
    """The fields of a request's log line. Never the body, so never a beat's samples."""
    fields: dict[str, Any] = {
        "request_id": record.request_id,
        "method": scope["method"],
        "path": scope["path"],
        "route": route,
        "status": record.status,
        "duration_ms": round(duration_s * 1000, 3),
    }
    if record.beats is not None:
        fields["beats"] = record.beats
        fields["abnormal"] = record.abnormal
    client = scope.get("client")
    if client:
        fields["client"] = client[0]
    return fields


def _incoming_request_id(scope: Scope) -> str | None:
    sent = Headers(scope=scope).get(REQUEST_ID_HEADER)
    return sent if sent is not None and ACCEPTED_REQUEST_ID.fullmatch(sent) else None
