"""What operators see: /metrics after real requests, request ids, and the JSON request log."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from app.main import create_app


def _metrics(client: TestClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics, by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _sample(metrics: dict, name: str, **labels: str) -> float:
    return metrics.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def fresh_client(shipped_model_dir: Path) -> Any:
    """An app of its own, so its counters start at zero."""
    with TestClient(create_app(Settings(model_dir=shipped_model_dir, max_body_bytes=400_000))) as c:
        yield c


def test_metrics_count_requests_beats_and_abnormal_beats(
    fresh_client: TestClient, reference_test_split: tuple[np.ndarray, np.ndarray]
) -> None:
    beats, _ = reference_test_split
    scored = fresh_client.post("/v1/predict", json={"beats": beats[:50].tolist()})
    abnormal = sum(result["is_anomaly"] for result in scored.json()["results"])
    assert 0 < abnormal < 50  # the first 50 held-out beats hold both kinds
    csv = "\n".join(",".join(map(str, beat)) for beat in beats[50:60].tolist())
    as_csv = fresh_client.post("/v1/predict/csv", content=csv, headers={"content-type": "text/csv"})
    abnormal += sum(result["is_anomaly"] for result in as_csv.json()["results"])
    assert fresh_client.post("/v1/predict", json={"beats": [[1.0]]}).status_code == 422

    metrics = _metrics(fresh_client)

    model = {"model": "ecg5000"}
    assert _sample(metrics, "ecg_beats_scored_total", **model) == 60
    assert _sample(metrics, "ecg_beats_abnormal_total", **model) == abnormal
    assert _sample(metrics, "ecg_inference_duration_seconds_count", **model) == 2
    assert 0 < _sample(metrics, "ecg_inference_duration_seconds_sum", **model) < 5
    predict = {"method": "POST", "route": "/v1/predict"}
    assert _sample(metrics, "ecg_http_requests_total", **predict, status="200") == 1
    assert _sample(metrics, "ecg_http_requests_total", **predict, status="422") == 1
    assert _sample(metrics, "ecg_http_request_duration_seconds_count", **predict) == 2
    csv_route = {"method": "POST", "route": "/v1/predict/csv", "status": "200"}
    assert _sample(metrics, "ecg_http_requests_total", **csv_route) == 1


def test_metrics_name_the_model_being_served(fresh_client: TestClient) -> None:
    version = fresh_client.get("/v1/model").json()["model_version"]
    metrics = _metrics(fresh_client)
    info = [labels for name, labels in metrics if name == "ecg_model_info"]
    assert len(info) == 1
    assert ("model_version", version) in info[0]
    assert ("threshold_rule", "mean_plus_k_std") in info[0]
    assert _sample(metrics, "process_resident_memory_bytes") > 10_000_000


def test_metrics_count_model_reloads(fresh_client: TestClient) -> None:
    assert fresh_client.post("/v1/model/reload").status_code == 200
    metrics = _metrics(fresh_client)
    assert _sample(metrics, "ecg_model_reloads_total", outcome="success") == 1
    assert _sample(metrics, "ecg_model_reloads_total", outcome="failure") == 0


def test_requests_refused_before_routing_are_counted_under_their_route(
    fresh_client: TestClient,
) -> None:
    too_large = fresh_client.post(
        "/v1/predict", content=b"0" * 500_000, headers={"content-type": "application/json"}
    )
    assert too_large.status_code == 413
    fresh_client.get("/no/such/path/12345")
    metrics = _metrics(fresh_client)
    refused = {"method": "POST", "route": "/v1/predict", "status": "413"}
    assert _sample(metrics, "ecg_http_requests_total", **refused) == 1
    unmatched = {"method": "GET", "route": "unmatched", "status": "404"}
    assert _sample(metrics, "ecg_http_requests_total", **unmatched) == 1
    assert not any("12345" in value for _, labels in metrics for _, value in labels)


def test_response_echoes_the_clients_request_id(client: TestClient) -> None:
    response = client.get("/health", headers={"X-Request-ID": "trace-4f2a.9"})
    assert response.headers["x-request-id"] == "trace-4f2a.9"


@pytest.mark.parametrize("sent", [None, "has space", "x" * 129])
def test_response_gets_a_new_request_id_when_none_acceptable_was_sent(
    client: TestClient, sent: str | None
) -> None:
    headers = {} if sent is None else {"X-Request-ID": sent}
    generated = client.get("/health", headers=headers).headers["x-request-id"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    assert generated != client.get("/health", headers=headers).headers["x-request-id"]


def test_problem_responses_carry_the_request_id_too(client: TestClient) -> None:
    response = client.post("/v1/predict", json={"beats": []}, headers={"X-Request-ID": "r-1"})
    assert response.status_code == 422
    assert response.headers["x-request-id"] == "r-1"


def _post_json(base_url: str, path: str, body: object, request_id: str) -> int:
    request = urllib.request.Request(
        base_url + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "x-request-id": request_id},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def _json_lines(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines() if line.strip()]


def test_server_logs_one_json_line_per_request_without_beat_values(
    serve: Callable[..., Any],
    shipped_model_dir: Path,
    reference_test_split: tuple[np.ndarray, np.ndarray],
) -> None:
    server = serve(shipped_model_dir)
    beats = reference_test_split[0][:5]
    assert _post_json(server.base_url, "/v1/predict", {"beats": beats.tolist()}, "ok-1") == 200
    assert _post_json(server.base_url, "/v1/predict", {"beats": [["x"]]}, "bad-1") == 422
    with urllib.request.urlopen(server.base_url + "/metrics", timeout=5) as response:
        scraped = response.read().decode()
    log = server.stop()

    lines = _json_lines(log)  # every line of the log is JSON, start-up lines included
    by_id = {line["request_id"]: line for line in lines if "request_id" in line}
    scored = by_id["ok-1"]
    assert scored["method"] == "POST" and scored["path"] == "/v1/predict"
    assert scored["status"] == 200 and scored["beats"] == 5
    assert 0 <= scored["abnormal"] <= 5 and scored["duration_ms"] > 0
    assert scored["level"] == "INFO" and scored["logger"] == "app.requests"
    assert by_id["bad-1"]["status"] == 422
    assert any("serving model" in line["message"] for line in lines)
    for sample in beats[0][:20]:
        assert repr(float(sample)) not in log
    assert 'ecg_beats_scored_total{model="ecg5000"} 5.0' in scraped


def test_log_level_comes_from_the_environment(
    serve: Callable[..., Any], shipped_model_dir: Path
) -> None:
    server = serve(shipped_model_dir, env={"ECG_LOG_LEVEL": "WARNING"})
    server.get_json("/health")
    log = server.stop()
    assert not [line for line in _json_lines(log) if line.get("logger") == "app.requests"]


def test_server_error_carries_the_request_id_in_response_and_log(
    shipped_model_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(Settings(model_dir=shipped_model_dir))

    @app.get("/v1/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/v1/boom", headers={"X-Request-ID": "boom-1"})
        metrics = _metrics(client)
    assert response.status_code == 500
    assert response.headers["x-request-id"] == "boom-1"
    logged = [record for record in caplog.records if "unhandled error" in record.getMessage()]
    assert [getattr(record, "request_id", None) for record in logged] == ["boom-1"]
    errors = {"method": "GET", "route": "/v1/boom", "status": "500"}
    assert _sample(metrics, "ecg_http_requests_total", **errors) == 1


def test_client_that_leaves_mid_body_is_counted_as_499_not_a_server_error(
    fresh_client: TestClient, asgi_request: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    parts = iter(
        [
            {"type": "http.request", "body": b'{"beats": [[0.1, ', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )

    async def receive() -> dict[str, Any]:
        return next(parts)

    app = fresh_client.app
    messages = fresh_client.portal.call(asgi_request, app, "POST", "/v1/predict", receive)

    assert messages == []  # nobody to answer
    metrics = _metrics(fresh_client)
    left = {"method": "POST", "route": "/v1/predict", "status": "499"}
    assert _sample(metrics, "ecg_http_requests_total", **left) == 1
    assert not [name for name, labels in metrics if ("status", "500") in labels]
    assert not [record for record in caplog.records if record.levelname == "ERROR"]


def test_made_up_methods_share_one_metrics_label(fresh_client: TestClient) -> None:
    for method in ("PROPFIND", "BREW", "XYZZY"):
        assert fresh_client.request(method, "/health").status_code == 405
    metrics = _metrics(fresh_client)
    other = {"method": "OTHER", "route": "/health", "status": "405"}
    assert _sample(metrics, "ecg_http_requests_total", **other) == 3
    assert not any(("method", "BREW") in labels for _, labels in metrics)
