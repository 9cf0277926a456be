"""deploy/kubernetes: every overlay rendered with `kubectl kustomize`, validated offline against
the Kubernetes schemas in strict mode (kubernetes-validate), linted (yamllint) and scanned by a
policy scanner (checkov): every check passes or is skipped with a written reason.

The KServe InferenceService has no schema here (KServe's CRD is not packaged for offline use),
so it is checked structurally: its predictor is a Kubernetes pod spec plus KServe's own fields,
and that pod spec is validated strictly as a Pod."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
KUBERNETES_DIR = REPO_ROOT / "deploy" / "kubernetes"
OVERLAYS = ["overlays/dev", "overlays/production"]
RENDERED = [*OVERLAYS, "kserve"]
KUBERNETES_VERSION = "1.32.0"  # the oldest minor still maintained upstream when this was written
BIN_DIR = Path(sys.executable).parent
# KServe's PredictorSpec: a pod spec inlined with these fields of its own
KSERVE_PREDICTOR_FIELDS = {
    "minReplicas",
    "maxReplicas",
    "scaleMetric",
    "scaleTarget",
    "containerConcurrency",
    "timeout",
    "canaryTrafficPercent",
    "logger",
    "batcher",
}


def tool(name: str, variable: str, hint: str, *candidates: Path) -> str:
    found = os.environ.get(variable) or next(
        (str(path) for path in candidates if path.is_file()), shutil.which(name)
    )
    if not found:
        pytest.fail(f"{name} not found: {hint}, or set {variable}")
    return found


@cache
def render(kustomization: str) -> str:
    kubectl = tool("kubectl", "ECG_KUBECTL", "put kubectl (with its kustomize) on PATH")
    result = subprocess.run(
        [kubectl, "kustomize", str(KUBERNETES_DIR / kustomization)],
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout


def resources(kustomization: str) -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(render(kustomization))}


def write(tmp_path: Path, text: str, name: str = "rendered.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def kubernetes_validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN_DIR / "kubernetes-validate"), "--strict", "-k", KUBERNETES_VERSION, str(path)],
        capture_output=True,
        text=True,
    )


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_is_valid_by_the_kubernetes_schemas_in_strict_mode(
    overlay: str, tmp_path: Path
) -> None:
    result = kubernetes_validate(write(tmp_path, render(overlay)))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("passed for resource") == len(resources(overlay)) == 7


def test_strict_validation_catches_a_misspelt_field(tmp_path: Path) -> None:
    text = render("overlays/production").replace("readinessProbe:", "readynessProbe:")
    result = kubernetes_validate(write(tmp_path, text))
    assert result.returncode != 0 and "readynessProbe" in result.stdout


def kserve_predictor_pod() -> dict[str, Any]:
    """The InferenceService's predictor as the Pod KServe makes of it: its pod-spec fields, its
    annotations and the label KServe gives it."""
    service = resources("kserve")["InferenceService"]
    predictor = service["spec"]["predictor"]
    spec = {key: value for key, value in predictor.items() if key not in KSERVE_PREDICTOR_FIELDS}
    metadata = {
        "name": "ecg-anomaly-predictor",
        "namespace": service["metadata"]["namespace"],
        "labels": {"serving.kserve.io/inferenceservice": service["metadata"]["name"]},
        "annotations": service["metadata"]["annotations"],
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def scanned_text(target: str) -> str:
    """What checkov reads: it has no checks for KServe's kind (it finds no resource in it), so
    the InferenceService is scanned as its predictor's Pod, beside its NetworkPolicy."""
    if target != "kserve":
        return render(target)
    return yaml.safe_dump_all([kserve_predictor_pod(), resources("kserve")["NetworkPolicy"]])


@pytest.mark.parametrize("target", RENDERED)
def test_rendered_manifests_pass_the_policy_scanner_or_skip_with_a_reason(
    target: str, tmp_path: Path
) -> None:
    checkov = tool(
        "checkov",
        "ECG_CHECKOV",
        "run ./scripts/test.sh (it installs checkov in .venv-policy)",
        REPO_ROOT / ".venv-policy" / "bin" / "checkov",
        BIN_DIR / "checkov",
    )
    path = write(tmp_path, scanned_text(target))
    result = subprocess.run(
        [checkov, "-f", str(path), "--framework", "kubernetes", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout)
    summary, results = report["summary"], report["results"]
    assert summary["parsing_errors"] == 0
    failed = [(c["check_id"], c["check_name"]) for c in results["failed_checks"]]
    assert failed == []
    assert summary["passed"] >= (40 if target == "kserve" else 80)
    for skipped in results["skipped_checks"]:
        reason = skipped["check_result"]["suppress_comment"]
        assert len(reason.split()) >= 8, skipped["check_id"]  # a reason, not a bare id


def test_yaml_files_pass_yamllint() -> None:
    files = [str(path) for path in KUBERNETES_DIR.rglob("*.yaml")]
    result = subprocess.run(
        [str(BIN_DIR / "yamllint"), "--strict", *files, str(REPO_ROOT / "compose.yaml")],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout


def container(kustomization: str) -> dict[str, Any]:
    (api,) = resources(kustomization)["Deployment"]["spec"]["template"]["spec"]["containers"]
    return dict(api)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_runs_locked_down_with_probes_and_limits(overlay: str) -> None:
    deployment = resources(overlay)["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    api = container(overlay)
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    assert api["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
    }
    assert api["livenessProbe"]["httpGet"]["path"] == "/health"
    assert api["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert api["startupProbe"]["httpGet"]["path"] == "/ready"
    assert set(api["resources"]["requests"]) >= {"cpu", "memory"}
    assert set(api["resources"]["limits"]) >= {"cpu", "memory"}
    # graceful shutdown: out of the Service first, then uvicorn drains within the grace period
    assert api["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert pod["terminationGracePeriodSeconds"] > 5
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_service_pdb_hpa_and_network_policy_select_the_deployments_pods(overlay: str) -> None:
    found = resources(overlay)
    labels = found["Deployment"]["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str]) -> bool:
        return bool(selector) and selector.items() <= labels.items()

    assert selects(found["Service"]["spec"]["selector"])
    assert selects(found["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"])
    assert selects(found["NetworkPolicy"]["spec"]["podSelector"]["matchLabels"])
    hpa = found["HorizontalPodAutoscaler"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"]["name"] == found["Deployment"]["metadata"]["name"]
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu"


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_configuration_comes_from_the_configmap_and_the_key_from_a_secret(overlay: str) -> None:
    found = resources(overlay)
    api = container(overlay)
    (config_ref,) = api["envFrom"]
    assert config_ref["configMapRef"]["name"] == found["ConfigMap"]["metadata"]["name"]
    assert all(key.startswith(("ECG_", "FORWARDED_")) for key in found["ConfigMap"]["data"])
    (key,) = [env for env in api["env"] if env["name"] == "ECG_API_KEY"]
    assert key["valueFrom"]["secretKeyRef"]["name"] == "ecg-api-key"
    assert key["valueFrom"]["secretKeyRef"]["optional"] is (overlay == "overlays/dev")
    assert "Secret" not in found  # the key is never in the repository


def test_production_overlay_scales_wider_than_dev_and_spreads_over_nodes() -> None:
    dev, production = resources("overlays/dev"), resources("overlays/production")
    assert dev["HorizontalPodAutoscaler"]["spec"]["minReplicas"] == 1
    assert production["HorizontalPodAutoscaler"]["spec"]["minReplicas"] == 3
    assert production["Deployment"]["metadata"]["namespace"] == "ecg"
    assert dev["Deployment"]["metadata"]["namespace"] == "ecg-dev"
    pod = production["Deployment"]["spec"]["template"]["spec"]
    keys = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
    assert keys == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}


def test_kserve_inference_service_is_a_valid_custom_predictor(tmp_path: Path) -> None:
    service = resources("kserve")["InferenceService"]
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    assert service["kind"] == "InferenceService"
    predictor = dict(service["spec"]["predictor"])
    assert set(predictor) - KSERVE_PREDICTOR_FIELDS  # a pod spec is left
    (predictor_container,) = predictor["containers"]
    assert predictor_container["name"] == "kserve-container"
    assert predictor_container["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"
    assert predictor_container["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    pod = kserve_predictor_pod()
    result = kubernetes_validate(write(tmp_path, yaml.safe_dump(pod), "predictor-pod.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    # the same image and start command as the Deployment, on KServe's port
    command = predictor_container["command"]
    assert command[: command.index("--port")] == container("overlays/dev")["command"][:-2]
