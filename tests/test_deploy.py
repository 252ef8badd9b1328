"""The Kubernetes example validates against Kubernetes' own schemas (offline), and keeps its promises.

No cluster is available, so `kubernetes-validate` (which ships the schemas) checks
every manifest strictly; the checks below hold the parts the fleet relies on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

MANIFESTS = sorted((Path(__file__).parents[1] / "deploy" / "kubernetes").glob("*.yaml"))
K8S_VERSION = "1.32.0"


def documents() -> list[dict[str, Any]]:
    return [doc for path in MANIFESTS for doc in yaml.safe_load_all(path.read_text()) if doc]


def by_kind(kind: str) -> dict[str, Any]:
    return next(doc for doc in documents() if doc["kind"] == kind)


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_each_manifest_is_valid_kubernetes(path: Path) -> None:
    for doc in yaml.safe_load_all(path.read_text()):
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_a_wrong_field_is_caught() -> None:
    broken = by_kind("Deployment")
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProb"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


def test_the_deployment_probes_health_drains_in_time_and_reads_secrets() -> None:
    pod = by_kind("Deployment")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    env = {e["name"]: e for e in container["env"]}
    drain = float(env["PD_MCP_DRAIN_SECONDS"]["value"])
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] > pre_stop + drain
    for secret in ("PD_MCP_HTTP_TOKEN", "POWERDRILL_PROJECT_API_KEY", "PD_MCP_REDIS_URL"):
        assert "secretKeyRef" in env[secret]["valueFrom"], secret
    assert "--stateless" in container["args"]


def test_a_disruption_budget_covers_the_deployment() -> None:
    labels = by_kind("Deployment")["spec"]["selector"]["matchLabels"]
    assert by_kind("PodDisruptionBudget")["spec"]["selector"]["matchLabels"] == labels
