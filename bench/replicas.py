"""Compose's replica topology on the host, without Docker: Debian's nginx on loopback with the
project's own `deploy/nginx.conf`, rendered for loopback, in front of replicas the caller starts.

Rendering changes only what Docker provides: the `server api:8000 ...` line of the upstream
becomes one line per replica port on 127.0.0.1 (same parameters, without `resolve`, which needs
a DNS server and nginx >= 1.27.3), the `resolver` line goes, and `listen` gets the given port.
The tests (tests/deploy/) and the scaling benchmark (bench/scale.py) both run it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

REPO_ROOT = Path(__file__).resolve().parent.parent
NGINX_CONFIG = REPO_ROOT / "deploy" / "nginx.conf"
START_TIMEOUT_S = 15.0
# one line per request: its status and every replica tried, "502|127.0.0.1:4001, 127.0.0.1:4002|..."
ACCESS_LOG_FORMAT = "$status|$upstream_addr|$upstream_status"

REPLICA_LINE = re.compile(r"^(\s*)server api:8000 resolve( [^;]*)?;\s*$", re.MULTILINE)
RESOLVER_LINE = re.compile(r"^resolver .*;\n", re.MULTILINE)
LISTEN_LINE = re.compile(r"^(\s*)listen 8000;$", re.MULTILINE)


def nginx_binary() -> str:
    """Debian's nginx (`apt-get install nginx`; scripts/test.sh installs it), or ECG_NGINX."""
    found = os.environ.get("ECG_NGINX") or shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(found).is_file():
        raise FileNotFoundError("nginx not found: apt-get install nginx, or set ECG_NGINX")
    return found


def render_for_loopback(config: str, listen_port: int, replica_ports: Sequence[int]) -> str:
    replica_line = REPLICA_LINE.search(config)
    if replica_line is None or not LISTEN_LINE.search(config):
        raise ValueError("deploy/nginx.conf has no `server api:8000 resolve` or `listen 8000` line")
    indent, parameters = replica_line.group(1), replica_line.group(2) or ""
    servers = "\n".join(f"{indent}server 127.0.0.1:{port}{parameters};" for port in replica_ports)
    config = REPLICA_LINE.sub(lambda _: servers, config)
    config = RESOLVER_LINE.sub("", config)
    return LISTEN_LINE.sub(lambda match: f"{match.group(1)}listen 127.0.0.1:{listen_port};", config)


def main_config(directory: Path, site_config: Path, worker_processes: int) -> str:
    """The nginx.conf around the site file, as Debian's /etc/nginx/nginx.conf includes conf.d."""
    user = "user root;" if os.geteuid() == 0 else ""  # workers can then use the temp directory
    temp_paths = "\n".join(
        f"    {kind}_temp_path {directory / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""{user}
worker_processes {worker_processes};
daemon off;
pid {directory / "nginx.pid"};
error_log {directory / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    log_format upstreams '{ACCESS_LOG_FORMAT}';
    access_log {directory / "access.log"} upstreams;
{temp_paths}
    include {site_config};
}}
"""


class LoopbackNginx:
    """nginx in front of `replica_ports`, listening on `port`; a context manager."""

    def __init__(self, port: int, replica_ports: Sequence[int], worker_processes: int = 1) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self._directory = tempfile.TemporaryDirectory(prefix="ecg-nginx-")
        self.directory = Path(self._directory.name)
        site = self.directory / "default.conf"
        site.write_text(render_for_loopback(NGINX_CONFIG.read_text(), port, replica_ports))
        self.config = self.directory / "nginx.conf"
        self.config.write_text(main_config(self.directory, site, worker_processes))
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LoopbackNginx:
        nginx = nginx_binary()
        command = [nginx, "-p", str(self.directory), "-c", str(self.config)]
        subprocess.run([*command, "-t", "-q"], check=True, capture_output=True)
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        self._wait_until_listening()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # a fast shutdown of master and workers
            self.process.wait(timeout=10)
        self._directory.cleanup()

    def _wait_until_listening(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.error_log()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/nginx-health", timeout=2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"nginx not listening within {START_TIMEOUT_S}s")

    def access_log(self) -> list[tuple[int, list[str], list[str]]]:
        """Per request: the status sent to the client, the replicas tried and their statuses."""
        entries = []
        for line in (self.directory / "access.log").read_text().splitlines():
            status, addresses, statuses = line.split("|")
            entries.append((int(status), addresses.split(", "), statuses.split(", ")))
        return entries

    def error_log(self) -> str:
        path = self.directory / "error.log"
        return path.read_text() if path.exists() else ""
