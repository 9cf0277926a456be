"""compose.yaml: valid by the Compose specification, and `--scale api=N`-ready behind nginx."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE = REPO_ROOT / "compose.yaml"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def services() -> dict[str, dict]:
    return dict(yaml.safe_load(COMPOSE.read_text())["services"])


def test_compose_file_is_valid_by_the_compose_specification() -> None:
    # the Compose specification's JSON schema, as check-jsonschema ships it
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_validation_catches_a_misspelt_key(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("healthcheck:", "healthchek:", 1))
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.compose-spec", str(broken)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "healthchek" in result.stdout


def test_api_can_scale_because_only_the_balancer_publishes_a_port() -> None:
    api, lb = services()["api"], services()["lb"]
    # a published host port would let only one replica start; container_name would too
    assert "ports" not in api and "container_name" not in api
    assert lb["ports"] == ["8000:8000"]
    assert lb["depends_on"]["api"]["condition"] == "service_healthy"
    assert "/ready" in " ".join(api["healthcheck"]["test"])


def test_balancer_runs_the_projects_nginx_config_pointed_at_the_api_service() -> None:
    host_path, container_path, mode = services()["lb"]["volumes"][0].split(":")
    assert (REPO_ROOT / host_path).resolve() == REPO_ROOT / "deploy" / "nginx.conf"
    assert container_path == "/etc/nginx/conf.d/default.conf" and mode == "ro"
    config = (REPO_ROOT / host_path).read_text()
    assert "server api:8000 resolve" in config  # re-resolved: replicas added later get traffic
    assert "resolver 127.0.0.11" in config  # Docker's DNS
    version = re.fullmatch(r"nginx:(\d+)\.(\d+)(\.\d+)?-alpine", services()["lb"]["image"])
    assert version and (int(version[1]), int(version[2])) >= (
        1,
        28,
    )  # `resolve` in open-source nginx: 1.27.3 and later
