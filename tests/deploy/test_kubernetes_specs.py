"""The Kubernetes deployer's pure parts: the objects it applies, where the kernel reaches a
Service, and how a pod's state reads. No cluster. (The serving image's payload is tested in
tests/image/test_serving.py.)"""

from __future__ import annotations

import json

import pytest

from fairing_magics.config import Settings
from fairing_magics.deploy.kubernetes import (
    KubernetesDeployer,
    endpoint_options,
    render_objects,
)
from fairing_magics.deploy.kubernetes_objects import node_address, service_url
from fairing_magics.deploy.kubernetes_rollout import describe_pod
from fairing_magics.deploy.model import package_model
from fairing_magics.errors import ConfigError

IMAGE = "123456789012.dkr.ecr.cn-northwest-1.amazonaws.com.cn/fairing-job@sha256:" + "a" * 64


@pytest.fixture(scope="module")
def package(linreg):
    return package_model(linreg[0])


def test_deployment_and_service_with_probe_resources_replicas_and_no_port_variable(package):
    opts = endpoint_options("linreg", IMAGE, namespace="kubeflow-user", package=package, replicas=3,
                            cpu="500m", memory="1Gi", expose="loadbalancer")
    deployment, service = render_objects(opts)
    assert (deployment["apiVersion"], deployment["kind"]) == ("apps/v1", "Deployment")
    assert deployment["spec"]["replicas"] == 3
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == IMAGE
    assert container["readinessProbe"]["httpGet"] == {"path": "/v1/models/linreg", "port": 8080}
    assert container["resources"]["requests"]["cpu"] == "500m"
    assert container["resources"]["limits"]["memory"] == "1Gi"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env == {"FAIRING_MODEL_NAME": "linreg"}  # PORT comes from the image
    assert service["spec"]["type"] == "LoadBalancer"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert deployment["metadata"]["annotations"]["fairing.dev/capture-digest"] == package.digest


def test_inferenceservice_runs_the_same_image(package):
    (isvc,) = render_objects(endpoint_options("linreg", IMAGE, package=package, kserve=True,
                                              replicas=2))
    assert (isvc["apiVersion"], isvc["kind"]) == ("serving.kserve.io/v1beta1", "InferenceService")
    predictor = isvc["spec"]["predictor"]
    assert predictor["minReplicas"] == 2
    container = predictor["containers"][0]
    assert container["name"] == "kserve-container" and container["image"] == IMAGE
    assert all(e["name"] != "PORT" for e in container.get("env", []))


def _service(kind="ClusterIP", ingress=None, node_port=None):
    port = {"name": "http", "port": 8080, "targetPort": 8080}
    if node_port:
        port["nodePort"] = node_port
    return {"metadata": {"name": "linreg", "namespace": "team"},
            "spec": {"type": kind, "ports": [port]},
            "status": {"loadBalancer": {"ingress": ingress} if ingress else {}}}


def test_service_url_takes_an_eks_hostname_not_none():
    eks = [{"hostname": "a1b2-123.cn-northwest-1.elb.amazonaws.com.cn"}]
    assert service_url(_service("LoadBalancer", eks), in_cluster=False) == \
        "http://a1b2-123.cn-northwest-1.elb.amazonaws.com.cn:8080"
    assert service_url(_service("LoadBalancer", [{"ip": "203.0.113.9"}]),
                       in_cluster=True) == "http://203.0.113.9:8080"
    assert service_url(_service("LoadBalancer", [{"ip": "127.0.0.1", "ports": [{"port": 41000}]}]),
                       in_cluster=False) == "http://127.0.0.1:41000"
    assert service_url(_service("LoadBalancer"), in_cluster=True) == ""  # still provisioning


def test_service_url_for_clusterip_and_nodeport():
    assert service_url(_service(), in_cluster=True) == "http://linreg.team.svc.cluster.local:8080"
    assert service_url(_service(), in_cluster=False) == ""  # the deployer then uses the API proxy
    assert service_url(_service("NodePort", node_port=31234), in_cluster=False,
                       node_address="10.0.1.5") == "http://10.0.1.5:31234"


def test_node_address_prefers_external_ip():
    node = {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.1.5"},
                                     {"type": "ExternalIP", "address": "52.1.2.3"}]}}
    assert node_address(node) == "52.1.2.3"
    assert node_address({"status": {"addresses": [{"type": "Hostname", "address": "n1"}]}}) == ""


def _pod(phase="Running", ready=False, state=None, last=None, restarts=0, conditions=()):
    container = {"name": "server", "state": state or {"running": {}}, "restartCount": restarts}
    if last:
        container["lastState"] = {"terminated": last}
    conds = [{"type": "Ready", "status": "True" if ready else "False"}, *conditions]
    return {"status": {"phase": phase, "conditions": conds, "containerStatuses": [container]}}


def test_describe_pod_reads_ready_crash_pull_and_scheduling():
    assert describe_pod(_pod(ready=True)) == ("Ready", "", "")
    crash = describe_pod(_pod(state={"waiting": {"reason": "CrashLoopBackOff",
                                                 "message": "back-off"}},
                              last={"exitCode": 2}, restarts=2))
    assert crash[0] == "CrashLoopBackOff" and crash[2] == "CrashLoopBackOff"
    assert "exited 2" in crash[1]
    pull = describe_pod(_pod(state={"waiting": {"reason": "ImagePullBackOff"}}))
    assert pull[2] == "ImagePullBackOff"
    assert describe_pod(_pod(state={"waiting": {"reason": "ContainerCreating"}}))[2] == ""
    restarted = describe_pod(_pod(state={"waiting": {"reason": "PodInitializing"}},
                                  last={"exitCode": 1}, restarts=1))
    assert restarted[2] == "exit code 1"
    failed = describe_pod(_pod(state={"terminated": {"exitCode": 2, "reason": "Error"}}))
    assert failed[2] == "exit code 2"
    why = "0/1 nodes are available: 1 Insufficient cpu"
    pending = {"status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "message": why}]}}
    assert describe_pod(pending)[:2] == ("Unschedulable", why)


def test_check_refuses_before_anything_is_built():
    deployer = KubernetesDeployer()
    with pytest.raises(ConfigError, match="no registry is set"):
        deployer.check(Settings())
    ok = Settings(registry="127.0.0.1:5000/me/serve")
    with pytest.raises(ConfigError, match="expose"):
        deployer.check(ok, expose="everywhere")
    with pytest.raises(ConfigError):
        deployer.check(ok, cpu="lots")
    with pytest.raises(ConfigError, match="InferenceService is exposed by KServe"):
        deployer.check(ok, kserve=True, expose="loadbalancer")
    deployer.check(ok, replicas=2, cpu="1", memory="2Gi", expose="nodeport")
    assert json.dumps(render_objects(endpoint_options("x", IMAGE)))  # JSON-ready
