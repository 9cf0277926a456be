"""Compose's topology on the host: real `ecg-serve` replicas on loopback behind Debian's nginx,
running the project's own deploy/nginx.conf rendered for loopback (bench/replicas.py)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.inference.scoring import load_scorer
from bench.replicas import NGINX_CONFIG, LoopbackNginx, render_for_loopback


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_of(server: Any) -> int:
    return int(server.base_url.rsplit(":", 1)[1])


@pytest.fixture(scope="module")
def beats(shipped_model_dir: Path) -> np.ndarray:
    examples = load_scorer(shipped_model_dir).metadata.examples
    return np.array([examples.normal, examples.abnormal], dtype=np.float32)


class Client:
    """One keep-alive connection to the balancer, as a load generator's worker holds."""

    def __init__(self, port: int) -> None:
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def predict(self, beats: np.ndarray) -> tuple[int, Any]:
        body = json.dumps({"beats": beats.tolist()})
        self.connection.request("POST", "/v1/predict", body, {"Content-Type": "application/json"})
        response = self.connection.getresponse()
        return response.status, json.loads(response.read())


def requests_served(server: Any) -> float:
    """/v1/predict requests a replica answered, from its own /metrics."""
    connection = http.client.HTTPConnection("127.0.0.1", port_of(server), timeout=5)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("ecg_http_requests_total{") and 'route="/v1/predict"' in line
    )


def test_rendering_keeps_the_config_but_points_the_upstream_at_loopback_ports() -> None:
    original = NGINX_CONFIG.read_text()
    rendered = render_for_loopback(original, 8080, [4001, 4002])
    assert "server 127.0.0.1:4001 max_fails=1 fail_timeout=5s;" in rendered
    assert "server 127.0.0.1:4002 max_fails=1 fail_timeout=5s;" in rendered
    assert "listen 127.0.0.1:8080;" in rendered
    directives = [line for line in rendered.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in directives if "resolver" in line or "api:8000" in line]
    kept = [line for line in original.splitlines() if "proxy_" in line]
    assert kept and all(line in rendered.splitlines() for line in kept)


def test_requests_are_spread_round_robin_over_every_replica(
    serve: Callable[..., Any], shipped_model_dir: Path, beats: np.ndarray
) -> None:
    replicas = [serve(shipped_model_dir) for _ in range(3)]
    with LoopbackNginx(free_port(), [port_of(r) for r in replicas]) as nginx:
        client = Client(nginx.port)
        for _ in range(90):
            status, document = client.predict(beats)
            assert status == 200
            assert [r["verdict"] for r in document["results"]] == ["normal", "abnormal"]
    assert [requests_served(replica) for replica in replicas] == [30, 30, 30]


def load_with_a_replica_stopped(
    serve: Callable[..., Any], model_dir: Path, beats: np.ndarray, stop_signal: int
) -> tuple[list[tuple[int, list[str]]], Counter[str], str, str]:
    """1,200 requests from 8 keep-alive clients through nginx to 3 replicas; after 300 answers
    the second replica gets `stop_signal`. Returns the answers (status, verdicts or the client's
    error), the replica that served each request (by address), the victim's address and nginx's
    error log."""
    replicas = [serve(model_dir) for _ in range(3)]
    victim = replicas[1]
    total, workers, stop_after = 1200, 8, 300
    done = threading.Semaphore(0)
    with LoopbackNginx(free_port(), [port_of(r) for r in replicas]) as nginx:

        def work(count: int) -> list[tuple[int, list[str]]]:
            client, answers = Client(nginx.port), []
            for _ in range(count):
                try:
                    status, document = client.predict(beats)
                    answers.append((status, [r["verdict"] for r in document["results"]]))
                except (OSError, http.client.HTTPException, KeyError) as exc:
                    answers.append((0, [repr(exc)]))
                    client = Client(nginx.port)
                done.release()
            return answers

        with ThreadPoolExecutor(workers) as pool:
            futures = [pool.submit(work, total // workers) for _ in range(workers)]
            for _ in range(stop_after):
                done.acquire()
            os.kill(victim.process.pid, stop_signal)  # mid-load, with requests in flight
            answers = [answer for future in futures for answer in future.result()]
        served_by = Counter(addresses[-1] for _, addresses, _ in nginx.access_log())
        victim_address = f"127.0.0.1:{port_of(victim)}"
        assert served_by[victim_address] > 0  # it did take part before it was stopped
        survivors = [f"127.0.0.1:{port_of(r)}" for r in replicas if r is not victim]
        assert all(served_by[address] > served_by[victim_address] for address in survivors)
        assert len(answers) == total
        return answers, served_by, victim_address, nginx.error_log()


def test_stopping_a_replica_mid_load_loses_no_request(
    serve: Callable[..., Any], shipped_model_dir: Path, beats: np.ndarray
) -> None:
    """SIGTERM, as `docker compose stop`, a scale-down or a Kubernetes rollout sends it: the
    replica finishes what it has, refuses the rest, and nginx sends that to the others."""
    answers, _, _, errors = load_with_a_replica_stopped(
        serve, shipped_model_dir, beats, signal.SIGTERM
    )
    assert Counter(status for status, _ in answers) == {200: len(answers)}, errors
    assert all(verdicts == ["normal", "abnormal"] for _, verdicts in answers)


def test_killing_a_replica_mid_load_retries_every_request_it_had_not_answered(
    serve: Callable[..., Any], shipped_model_dir: Path, beats: np.ndarray
) -> None:
    """SIGKILL, a crash: requests the replica had taken but not answered are sent to the others
    (the error log shows the resets). The one thing no proxy can retry is a response whose
    headers had already been forwarded when the replica died, in the microseconds between the
    two writes of a response: at most the one request the replica was answering, and its
    client sees a broken connection, never a wrong answer."""
    answers, _, victim, errors = load_with_a_replica_stopped(
        serve, shipped_model_dir, beats, signal.SIGKILL
    )
    assert f'upstream: "http://{victim}' in errors  # requests in flight on it were reset
    broken = [verdicts for status, verdicts in answers if status != 200]
    assert len(broken) <= 1, broken
    assert all("IncompleteRead" in verdicts[0] for verdicts in broken)
    answered = [verdicts for status, verdicts in answers if status == 200]
    assert all(verdicts == ["normal", "abnormal"] for verdicts in answered)


def test_a_replica_that_never_becomes_ready_gets_no_traffic(
    serve: Callable[..., Any], shipped_model_dir: Path, model_copy: Path, beats: np.ndarray
) -> None:
    (model_copy / "model.onnx").write_bytes(b"not a model")  # it can never load this
    ready = [serve(shipped_model_dir) for _ in range(2)]
    broken = serve(model_copy, wait=False)
    assert "cannot load the model" in broken.wait_for_exit()
    ports = [port_of(ready[0]), port_of(broken), port_of(ready[1])]
    with LoopbackNginx(free_port(), ports) as nginx:
        client = Client(nginx.port)
        answers = [client.predict(beats)[0] for _ in range(60)]
        log = nginx.access_log()
    assert answers == [200] * 60
    served_by = Counter(addresses[-1] for _, addresses, _ in log)
    assert set(served_by) == {f"127.0.0.1:{port_of(r)}" for r in ready}
    assert min(served_by.values()) >= 25  # still round-robin between the two ready ones
    # nginx tried it once, found it refusing connections, and left it out for fail_timeout
    tried = sum(f"127.0.0.1:{port_of(broken)}" in addresses for _, addresses, _ in log)
    assert tried <= 1
