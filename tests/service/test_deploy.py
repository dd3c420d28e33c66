"""The container image and Kubernetes manifests in service/deploy agree with ``spinerad serve``."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from spinerad.cli import build_parser
from spinerad.service.metrics import ServiceMetrics

DEPLOY = Path(__file__).resolve().parents[2] / "service" / "deploy"


def _manifests():
    documents = {}
    for path in sorted((DEPLOY / "kubernetes").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            documents[document["kind"]] = document
    return documents


@pytest.fixture(scope="module")
def manifests():
    return _manifests()


def _serve_help_options():
    """The options ``spinerad serve --help`` lists."""
    text = subprocess.run(
        [sys.executable, "-m", "spinerad", "serve", "--help"], capture_output=True, text=True, check=True
    ).stdout
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z-]*)", text))


def test_every_flag_of_the_deployment_is_one_serve_accepts(manifests):
    (container,) = manifests["Deployment"]["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[0] == "serve"
    known = _serve_help_options()
    for arg in args[1:]:
        assert arg.split("=")[0] in known, arg
    parsed = build_parser().parse_args(args)  # argparse exits on a bad value
    assert parsed.command == "serve"


def test_ports_probes_and_drain_match(manifests):
    deployment = manifests["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    parsed = build_parser().parse_args(container["args"])
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": parsed.port, "metrics": parsed.metrics_port}
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert container[probe]["grpc"]["port"] == parsed.port  # the native gRPC health probe
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert int(annotations["prometheus.io/port"]) == parsed.metrics_port
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + parsed.grace
    service = manifests["Service"]
    assert service["spec"]["clusterIP"] == "None"  # headless: clients balance over the pods
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(ports)
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        selector = manifests[kind]["spec"]["selector"]
        assert selector.get("matchLabels", selector).items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert parsed.scratch_dir in mounts  # the root filesystem is read-only
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_the_autoscaler_uses_a_metric_the_server_exports(manifests):
    hpa = manifests["HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == manifests["Deployment"]["metadata"]["name"]
    (metric,) = hpa["spec"]["metrics"]
    name = metric["pods"]["metric"]["name"]
    exported = {m.name for m in ServiceMetrics().registry.collect()}
    assert name in exported
    rules = yaml.safe_load(manifests["ConfigMap"]["data"]["config.yaml"])["rules"]
    assert any(rule["name"]["as"] == name for rule in rules)


def test_the_image_runs_serve_as_a_non_root_user_with_a_warm_cache(manifests):
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    (container,) = manifests["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert f"USER {container.get('securityContext', {}).get('runAsUser', users[-1])}" in dockerfile or users
    assert "engine.warm()" in dockerfile and "NUMBA_CACHE_DIR" in dockerfile
    exposed = {int(p) for p in re.findall(r"^EXPOSE (.+)$", dockerfile, re.M)[0].split()}
    parsed = build_parser().parse_args(container["args"])
    assert exposed == {parsed.port, parsed.metrics_port}
    cmd = re.findall(r"^CMD (.+)$", dockerfile, re.M)[0]
    build_parser().parse_args(yaml.safe_load(cmd))  # the image's default command parses too
