"""deploy/kubernetes/: Kubernetes' own schemas accept every core object, and the objects fit
together: one Deployment per role, probes on /readyz and /healthz, Services and Ingresses that
reach the HTTP roles, and KEDA ScaledObjects on the queues the router really consumes."""

from __future__ import annotations

import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.amqp.topology import AdapterQueues
from router.config.settings import FAMILIES, Settings
from router.roles import NAMES as ROLES
from router.roles import QUEUE_ROLES as QUEUED
from tests.deploy.paths import DEPLOY, ROOT, YAMLLINT_CONFIG, tool

MANIFESTS = DEPLOY / "kubernetes"
KEDA = "keda.sh/v1alpha1"
NOT_IN_SCHEMAS = {"keda.sh/v1alpha1", "kustomize.config.k8s.io/v1beta1"}
QUEUE_ROLES = set(QUEUED)
HTTP_ROLES = {"ingest", "websocket"}
# The oldest and the newest Kubernetes the schemas of kubernetes-validate cover that we promise.
VERSIONS = ("1.28.0", "1.37.0")


def files() -> list[Path]:
    return sorted(MANIFESTS.glob("*.yaml"))


def objects() -> Iterator[dict[str, Any]]:
    for path in files():
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document is not None:
                yield document


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects() if o["kind"] == kind}


def validate(path: Path, version: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("kubernetes-validate"), "--strict", "--quiet", "--no-warn", "-k", version, str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("version", VERSIONS)
def test_every_core_object_passes_strict_schema_validation(version: str) -> None:
    for path in files():
        result = validate(path, version)
        assert result.returncode == 0, f"{path.name}: {result.stdout}{result.stderr}"
    kinds = {o["apiVersion"] for o in objects()} - NOT_IN_SCHEMAS
    assert kinds >= {"apps/v1", "v1", "networking.k8s.io/v1", "policy/v1", "autoscaling/v2"}


def test_validation_does_refuse_an_unknown_field(tmp_path: Path) -> None:
    deployment = dict(next(iter(of_kind("Deployment").values())))
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(deployment), encoding="utf-8")
    result = validate(bad, VERSIONS[-1])
    assert result.returncode != 0
    assert "replica" in result.stdout + result.stderr


def test_yamllint_is_content() -> None:
    result = subprocess.run(
        [tool("yamllint"), "--strict", "-c", str(YAMLLINT_CONFIG), str(MANIFESTS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_kustomization_lists_every_file() -> None:
    (kustomization,) = (o for o in objects() if o["kind"] == "Kustomization")
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in files()} - {"kustomization.yaml"}
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert kustomization["images"][0]["newTag"] == version["version"]


def role_of(deployment: dict[str, Any]) -> str:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[:3] == ["router", "run", "--only"], command
    role: str = command[3]
    assert deployment["metadata"]["name"] == f"evrouter-{role}"
    return role


def test_one_deployment_per_role() -> None:
    assert sorted(role_of(d) for d in of_kind("Deployment").values()) == sorted(ROLES)


def test_every_deployment_probes_readyz_and_healthz_and_reads_the_environment() -> None:
    config = of_kind("ConfigMap")
    secrets = of_kind("Secret")
    for deployment in of_kind("Deployment").values():
        pod = deployment["spec"]["template"]
        assert (
            deployment["spec"]["selector"]["matchLabels"].items()
            <= pod["metadata"]["labels"].items()
        )
        (container,) = pod["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        (port,) = container["ports"]
        assert port["containerPort"] == int(config["evrouter-config"]["data"]["SERVER_PORT"])
        sources = container["envFrom"]
        assert {s["configMapRef"]["name"] for s in sources if "configMapRef" in s} <= set(config)
        assert {s["secretRef"]["name"] for s in sources if "secretRef" in s} <= set(secrets)
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False


def test_the_environment_holds_only_router_settings_and_switches_every_role_on() -> None:
    known = set().union(*(fam.known_names() for fam in FAMILIES.values()))
    config = of_kind("ConfigMap")["evrouter-config"]["data"]
    secret = of_kind("Secret")["evrouter-secrets"]["stringData"]
    assert not (set(config) | set(secret)) - known
    assert not set(config) & set(secret)
    for role in ROLES:
        if role != "ingest" and role != "webhook":
            assert config[f"{role.upper()}_ENABLED"] == "true", role


def pod_labels(role: str) -> dict[str, str]:
    labels: dict[str, str] = of_kind("Deployment")[f"evrouter-{role}"]["spec"]["template"][
        "metadata"
    ]["labels"]
    return labels


def test_services_and_ingresses_reach_the_http_roles() -> None:
    services = of_kind("Service")
    assert set(services) == {f"evrouter-{role}" for role in HTTP_ROLES}
    for role in HTTP_ROLES:
        service = services[f"evrouter-{role}"]
        assert service["spec"]["selector"].items() <= pod_labels(role).items()
        assert service["spec"]["ports"][0]["targetPort"] == "http"
    routed = {}
    for ingress in of_kind("Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] in services
                assert backend["port"]["name"] == "http"
                routed[path["path"]] = backend["name"]
    api = [
        "/events",
        "/ingest",
        "/instance",
        "/instances",
        "/webhook",
        "/rabbitmq",
        "/sqs",
        "/websocket",
        "/pusher",
        "/api",
        "/attempts",
        "/replay",
        "/endpoints",
        "/openapi.json",
        "/ui",
        "/dlq",
        "/destinations",
    ]
    assert routed == {"/ws": "evrouter-websocket"} | dict.fromkeys(api, "evrouter-ingest")
    # Unauthenticated operational endpoints are not published.
    for open_path in ("/metrics", "/healthz", "/readyz"):
        assert not any(open_path.startswith(prefix) for prefix in routed)


def test_every_api_route_is_published() -> None:
    import re

    from router.app import create_app
    from router.config.settings import Settings
    from router.config.store import MemoryStore
    from router.http.dialects.evolution import BLOCKS

    app = create_app(Settings.build(), ["ingest"], adapters={}, store=MemoryStore())
    published = [
        path["path"]
        for ingress in of_kind("Ingress").values()
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    samples = []
    for resource in app.router.resources():
        info = resource.get_info()
        template = str(info.get("path") or info.get("formatter"))
        if template in ("/healthz", "/readyz", "/metrics"):
            continue
        for block in BLOCKS if "{block}" in template else [""]:
            samples.append(re.sub(r"{[^}]+}", "x", template.replace("{block}", block)))
    assert samples
    for sample in samples:
        assert any(sample.startswith(prefix) for prefix in published), sample


def test_the_websocket_ingress_keeps_long_connections_open() -> None:
    annotations = of_kind("Ingress")["evrouter-websocket"]["metadata"]["annotations"]
    for name in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{name}"]) >= 3600


def test_a_disruption_budget_per_role_selects_its_pods() -> None:
    budgets = of_kind("PodDisruptionBudget")
    assert set(budgets) == {f"evrouter-{role}" for role in ROLES}
    for name, budget in budgets.items():
        role = name.removeprefix("evrouter-")
        assert budget["spec"]["selector"]["matchLabels"].items() <= pod_labels(role).items()
        assert budget["spec"]["maxUnavailable"] == 1


def test_keda_scales_each_queue_role_on_the_length_of_its_work_queue() -> None:
    scaled = of_kind("ScaledObject")
    deployments = of_kind("Deployment")
    exchange = Settings.build().rabbitmq.exchange_name
    assert of_kind("ConfigMap")["evrouter-config"]["data"]["RABBITMQ_EXCHANGE_NAME"] == exchange
    roles = set()
    for scaled_object in scaled.values():
        assert scaled_object["apiVersion"] == KEDA
        target = scaled_object["spec"]["scaleTargetRef"]["name"]
        assert target in deployments, target
        role = role_of(deployments[target])
        roles.add(role)
        assert "replicas" not in deployments[target]["spec"]  # KEDA owns the count
        (trigger,) = scaled_object["spec"]["triggers"]
        assert trigger["type"] == "rabbitmq"
        metadata = trigger["metadata"]
        assert metadata["mode"] == "QueueLength"
        assert metadata["queueName"] == AdapterQueues.for_role(exchange, role).work
        assert float(metadata["value"]) > 0
        assert "host" not in metadata  # from the TriggerAuthentication, never in plain text
        spec = scaled_object["spec"]
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        assert trigger["authenticationRef"]["name"] in of_kind("TriggerAuthentication")
    assert roles == QUEUE_ROLES


def test_keda_reads_the_broker_address_from_the_routers_secret() -> None:
    secrets = of_kind("Secret")
    for auth in of_kind("TriggerAuthentication").values():
        assert auth["apiVersion"] == KEDA
        (ref,) = auth["spec"]["secretTargetRef"]
        assert ref["parameter"] == "host"
        assert ref["key"] in secrets[ref["name"]]["stringData"]
        assert ref["key"] == "RABBITMQ_URI"
