"""A body that trickles in gets 408 at its deadline, on a real server (a raw socket plays the
slow client)."""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest


@pytest.fixture
def slow_body_server(serve: Callable[..., Any], shipped_model_dir: Path, monkeypatch) -> Any:
    monkeypatch.setitem(os.environ, "ECG_BODY_TIMEOUT_S", "1")
    return serve(shipped_model_dir)


def test_body_that_trickles_in_gets_408_at_its_deadline(slow_body_server: Any) -> None:
    address = urlsplit(slow_body_server.base_url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as connection:
        connection.sendall(
            b"POST /v1/predict HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 5000\r\n\r\n" + b'{"beats": [[0.1, '
        )
        started = time.monotonic()
        reply = _read_until_closed(connection)
        waited = time.monotonic() - started
    assert reply.startswith(b"HTTP/1.1 408"), reply[:200]
    assert b"ECG_BODY_TIMEOUT_S" in reply
    assert 0.8 < waited < 15  # at the 1 s deadline, give or take a loaded machine
    assert slow_body_server.get_json("/health") == {"status": "ok"}  # and it keeps serving


def test_body_sent_at_once_is_not_affected_by_the_deadline(slow_body_server: Any) -> None:
    body = json.dumps({"beats": [[0.0] * 140] * 50}).encode()
    request = urllib.request.Request(
        f"{slow_body_server.base_url}/v1/predict",
        data=body,
        headers={"content-type": "application/json"},
    )
    time.sleep(1.5)  # longer than the deadline: it runs per body, not per connection or server
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert len(json.loads(response.read())["results"]) == 50


def _read_until_closed(connection: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (it does, after a 408)."""
    chunks = []
    while chunk := connection.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)
