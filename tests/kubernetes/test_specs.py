"""The Kubernetes specs are pure functions: check the fields the API server and operators read."""

from __future__ import annotations

import pytest
import yaml

from fairing_magics.errors import ConfigError
from fairing_magics.kube.labels import ANNOTATION_DIGEST, ISTIO_INJECT, LABEL_DIGEST
from fairing_magics.kube.manifests import to_yaml
from fairing_magics.kube.options import (
    DeployOptions,
    JobOptions,
    Volume,
    parse_key_values,
    parse_toleration,
    parse_volume,
)
from fairing_magics.kube.serving import (
    render_deployment,
    render_endpoint,
    render_inferenceservice,
    render_service,
)
from fairing_magics.kube.training import (
    render_job,
    render_pytorchjob,
    render_tfjob,
    render_training,
)

IMAGE = "127.0.0.1:5000/fairing-job@sha256:" + "a" * 64
DIGEST = "sha256:" + "b" * 64


def job_options(**overrides) -> JobOptions:
    values = dict(name="train-x1y2z3", run_name="train", image=IMAGE, namespace="kubeflow-user",
                  command=("python3", "/fairing/fairing_bootstrap.py"), capture_digest=DIGEST)
    values.update(overrides)
    return JobOptions(**values)


def pod_specs(spec: dict) -> list[dict]:
    """Every pod template of a Job/TFJob/PyTorchJob."""
    if spec["kind"] == "Job":
        return [spec["spec"]["template"]]
    key = {"TFJob": "tfReplicaSpecs", "PyTorchJob": "pytorchReplicaSpecs"}[spec["kind"]]
    return [r["template"] for r in spec["spec"][key].values()]


def test_job_defaults():
    spec = render_job(job_options())
    assert spec["apiVersion"] == "batch/v1" and spec["kind"] == "Job"
    assert spec["metadata"]["name"] == "train-x1y2z3"
    assert spec["metadata"]["namespace"] == "kubeflow-user"
    assert spec["spec"]["backoffLimit"] == 0
    assert spec["spec"]["ttlSecondsAfterFinished"] == 3600
    assert "activeDeadlineSeconds" not in spec["spec"]
    template = spec["spec"]["template"]
    assert template["spec"]["restartPolicy"] == "Never"
    container = template["spec"]["containers"][0]
    assert container["name"] == "train"
    assert container["image"] == IMAGE
    assert container["command"] == ["python3", "/fairing/fairing_bootstrap.py"]
    assert "resources" not in container


def test_labels_identify_the_run_and_the_digest():
    spec = render_job(job_options())
    for labels in (spec["metadata"]["labels"], spec["spec"]["template"]["metadata"]["labels"]):
        assert labels["app.kubernetes.io/managed-by"] == "fairing-magics"
        assert labels["fairing.dev/run"] == "train-x1y2z3"
        assert labels["fairing.dev/name"] == "train"
        assert labels["fairing.dev/kind"] == "job"
        assert len(labels[LABEL_DIGEST]) <= 63
        assert DIGEST.split(":")[1].startswith(labels[LABEL_DIGEST])
    assert spec["metadata"]["annotations"][ANNOTATION_DIGEST] == DIGEST


def test_istio_sidecar_off_by_default_and_on_when_asked():
    template = render_job(job_options())["spec"]["template"]
    assert template["metadata"]["annotations"][ISTIO_INJECT] == "false"
    template = render_job(job_options(istio_inject=True))["spec"]["template"]
    assert ISTIO_INJECT not in template["metadata"].get("annotations", {})
    assert ISTIO_INJECT not in template["metadata"]["labels"]


def test_timeout_backoff_and_ttl():
    spec = render_job(job_options(timeout=600, backoff_limit=2, ttl_seconds_after_finished=60))
    assert spec["spec"]["activeDeadlineSeconds"] == 600
    assert spec["spec"]["backoffLimit"] == 2
    assert spec["spec"]["ttlSecondsAfterFinished"] == 60
    spec = render_job(job_options(ttl_seconds_after_finished=None))
    assert "ttlSecondsAfterFinished" not in spec["spec"]


def test_tfjob_with_two_workers_and_one_gpu_each():
    opts = job_options(kind="tfjob", workers=2, gpus=1, cpu="4", memory="16Gi", timeout=7200)
    spec = render_training(opts)
    assert spec["apiVersion"] == "kubeflow.org/v1" and spec["kind"] == "TFJob"
    assert spec["spec"]["runPolicy"] == {"cleanPodPolicy": "None", "backoffLimit": 0,
                                         "activeDeadlineSeconds": 7200,
                                         "ttlSecondsAfterFinished": 3600}
    replicas = spec["spec"]["tfReplicaSpecs"]
    assert list(replicas) == ["Chief", "Worker"]
    assert replicas["Chief"]["replicas"] == 1 and replicas["Worker"]["replicas"] == 2
    for replica in replicas.values():
        assert replica["restartPolicy"] == "Never"
        container = replica["template"]["spec"]["containers"][0]
        assert container["name"] == "tensorflow"
        assert container["resources"] == {
            "requests": {"cpu": "4", "memory": "16Gi"},
            "limits": {"cpu": "4", "memory": "16Gi", "nvidia.com/gpu": "1"},
        }
        assert replica["template"]["metadata"]["annotations"][ISTIO_INJECT] == "false"
    # The YAML a user sees with --dry-run parses back to the same spec, keys in reading order.
    text = to_yaml(spec)
    assert text.startswith("apiVersion: kubeflow.org/v1\nkind: TFJob\nmetadata:\n")
    assert yaml.safe_load(text) == spec
    assert "nvidia.com/gpu: '1'" in text
    assert "sidecar.istio.io/inject: 'false'" in text


def test_yaml_keeps_non_ascii_text_readable():
    text = to_yaml(render_job(job_options(env={"GREETING": "你好"})))
    assert "value: 你好" in text
    assert yaml.safe_load(text)["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "GREETING", "value": "你好"}]


def test_tfjob_parameter_servers():
    replicas = render_tfjob(job_options(kind="tfjob", workers=2,
                                        parameter_servers=1))["spec"]["tfReplicaSpecs"]
    assert list(replicas) == ["Chief", "Worker", "PS"]
    assert replicas["PS"]["replicas"] == 1
    with pytest.raises(ConfigError, match="only in a TFJob"):
        job_options(kind="pytorchjob", parameter_servers=1)


def test_pytorchjob_master_and_workers():
    spec = render_pytorchjob(job_options(kind="pytorchjob", workers=3))
    assert spec["kind"] == "PyTorchJob"
    replicas = spec["spec"]["pytorchReplicaSpecs"]
    assert {k: v["replicas"] for k, v in replicas.items()} == {"Master": 1, "Worker": 3}
    assert all(t["spec"]["containers"][0]["name"] == "pytorch" for t in pod_specs(spec))
    # --workers 0: the master alone.
    spec = render_pytorchjob(job_options(kind="PyTorchJob", workers=0))
    assert list(spec["spec"]["pytorchReplicaSpecs"]) == ["Master"]


def test_env_scheduling_and_pull_secrets():
    opts = job_options(
        env={"EPOCHS": 10, "MODE": "fast"}, env_from_secrets=["aws-creds"],
        node_selector={"nodegroup": "gpu"},
        tolerations=[parse_toleration("nvidia.com/gpu=present:NoSchedule"),
                     parse_toleration("spot:NoExecute")],
        service_account="default-editor", image_pull_secrets=["ecr-pull"],
    )
    pod = render_job(opts)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["env"] == [{"name": "EPOCHS", "value": "10"},
                                {"name": "MODE", "value": "fast"}]
    assert container["envFrom"] == [{"secretRef": {"name": "aws-creds"}}]
    assert pod["nodeSelector"] == {"nodegroup": "gpu"}
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present",
         "effect": "NoSchedule"},
        {"key": "spot", "operator": "Exists", "effect": "NoExecute"},
    ]
    assert pod["serviceAccountName"] == "default-editor"
    assert pod["imagePullSecrets"] == [{"name": "ecr-pull"}]


def test_volumes():
    opts = job_options(volumes=[parse_volume("pvc:data:/mnt/data"),
                                parse_volume("pvc:ref:/mnt/ref:ro"),
                                parse_volume("secret:tokens:/etc/tokens"),
                                parse_volume("configmap:settings:/etc/settings")])
    pod = render_job(opts)["spec"]["template"]["spec"]
    assert pod["volumes"] == [
        {"name": "pvc-data", "persistentVolumeClaim": {"claimName": "data", "readOnly": False}},
        {"name": "pvc-ref", "persistentVolumeClaim": {"claimName": "ref", "readOnly": True}},
        {"name": "secret-tokens", "secret": {"secretName": "tokens"}},
        {"name": "cm-settings", "configMap": {"name": "settings"}},
    ]
    assert pod["containers"][0]["volumeMounts"] == [
        {"name": "pvc-data", "mountPath": "/mnt/data"},
        {"name": "pvc-ref", "mountPath": "/mnt/ref", "readOnly": True},
        {"name": "secret-tokens", "mountPath": "/etc/tokens", "readOnly": True},
        {"name": "cm-settings", "mountPath": "/etc/settings", "readOnly": True},
    ]


@pytest.mark.parametrize("text, message", [
    ("pvc:data", "must look like pvc:CLAIM"),
    ("nfs:server:/mnt", "not pvc, secret or configmap"),
    ("pvc:data:relative/path", "must be absolute"),
    ("pvc:data:/mnt:rw", "must look like"),
])
def test_bad_volumes(text, message):
    with pytest.raises(ConfigError, match=message):
        parse_volume(text)


def test_two_volumes_with_one_name_are_refused():
    with pytest.raises(ConfigError, match="share a name"):
        job_options(volumes=[Volume("/a", pvc="x"), Volume("/b", pvc="x")])


@pytest.mark.parametrize("overrides, message", [
    ({"kind": "mpijob"}, "not one of job, tfjob, pytorchjob"),
    ({"workers": 2}, "needs --kind tfjob or pytorchjob"),
    ({"kind": "tfjob", "workers": -1}, "workers '-1' must be a whole number, 0 or more"),
    ({"memory": "2 Gi"}, "memory '2 Gi' is not a Kubernetes quantity; write it like 2Gi or 512Mi"),
    ({"gpus": -1}, "gpus '-1' must be a whole number"),
    ({"cpu": "two"}, "cpu 'two' is not a Kubernetes quantity"),
    ({"name": "Bad_Name!"}, "not a valid Kubernetes name"),
    ({"image": ""}, "has no image"),
    ({"timeout": 0}, "timeout"),
    ({"env": {"1BAD": "x"}}, "environment variable name '1BAD'"),
    ({"labels": {"team": "ML team"}}, "label value 'ML team'"),
    ({"node_selector": {"bad key!": "x"}}, "node selector key"),
    ({"command": "python main.py"}, "must be a list"),
])
def test_invalid_job_options(overrides, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        job_options(**overrides)


def test_user_labels_cannot_hide_the_run():
    spec = render_job(job_options(labels={"team": "ml", "fairing.dev/run": "other"}))
    labels = spec["metadata"]["labels"]
    assert labels["team"] == "ml"
    assert labels["fairing.dev/run"] == "train-x1y2z3"


def test_flag_parsers():
    assert parse_key_values(["A=1", "B=x=y", "A=2"]) == {"A": "2", "B": "x=y"}
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_key_values(["novalue"])
    assert parse_toleration("dedicated").render() == {"key": "dedicated", "operator": "Exists"}
    assert parse_toleration("a=b").render() == {"key": "a", "operator": "Equal", "value": "b"}
    with pytest.raises(ConfigError, match="NoSchedule"):
        parse_toleration("a=b:Sometimes")


# -- serving --------------------------------------------------------------------------------------


def deploy_options(**overrides) -> DeployOptions:
    values = dict(name="linreg", image=IMAGE, namespace="kubeflow-user", cpu="500m",
                  memory="512Mi", capture_digest=DIGEST)
    values.update(overrides)
    return DeployOptions(**values)


def test_deployment_has_port_env_probe_and_selector():
    spec = render_deployment(deploy_options(replicas=2))
    assert spec["apiVersion"] == "apps/v1" and spec["kind"] == "Deployment"
    assert spec["spec"]["replicas"] == 2
    selector = spec["spec"]["selector"]["matchLabels"]
    template = spec["spec"]["template"]
    assert selector == {"fairing.dev/endpoint": "linreg"}
    assert selector.items() <= template["metadata"]["labels"].items()
    container = template["spec"]["containers"][0]
    assert {"name": "PORT", "value": "8080"} in container["env"]
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/v1/models/linreg", "port": 8080}
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "512Mi"}
    assert "restartPolicy" not in template["spec"]  # Deployments only allow Always, the default
    # A new model is a new digest in the pod template: that is what makes a rollout.
    assert template["metadata"]["annotations"][ANNOTATION_DIGEST] == DIGEST


def test_deployment_port_and_model_name():
    container = render_deployment(deploy_options(port=9000, model_name="m"))["spec"][
        "template"]["spec"]["containers"][0]
    assert {"name": "PORT", "value": "9000"} in container["env"]
    assert container["readinessProbe"]["httpGet"] == {"path": "/v1/models/m", "port": 9000}


@pytest.mark.parametrize("expose, service_type", [
    ("clusterip", "ClusterIP"), ("nodeport", "NodePort"), ("LoadBalancer", "LoadBalancer")])
def test_service_types(expose, service_type):
    spec = render_service(deploy_options(expose=expose))
    assert spec["apiVersion"] == "v1" and spec["kind"] == "Service"
    assert spec["spec"]["type"] == service_type
    assert spec["spec"]["selector"] == {"fairing.dev/endpoint": "linreg"}
    assert spec["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": 8080,
                                      "protocol": "TCP"}]


def test_endpoint_renders_deployment_and_service_as_two_documents():
    docs = render_endpoint(deploy_options())
    assert [d["kind"] for d in docs] == ["Deployment", "Service"]
    text = to_yaml(docs)
    assert text.startswith("---\napiVersion: apps/v1\nkind: Deployment\n")
    assert list(yaml.safe_load_all(text)) == docs


def test_inferenceservice_with_our_container():
    spec = render_inferenceservice(deploy_options(kserve=True, replicas=2,
                                                  service_account="sa"))
    assert spec["apiVersion"] == "serving.kserve.io/v1beta1"
    assert spec["kind"] == "InferenceService"
    predictor = spec["spec"]["predictor"]
    assert predictor["minReplicas"] == 2 and predictor["serviceAccountName"] == "sa"
    container = predictor["containers"][0]
    assert container["name"] == "kserve-container" and container["image"] == IMAGE
    assert container["ports"] == [{"containerPort": 8080, "protocol": "TCP"}]
    assert {"name": "PORT", "value": "8080"} in container["env"]
    assert render_endpoint(deploy_options(kserve=True)) == [
        render_inferenceservice(deploy_options(kserve=True))]


@pytest.mark.parametrize("runtime", ["sklearn", "xgboost"])
def test_inferenceservice_with_stock_runtime(runtime):
    spec = render_inferenceservice(deploy_options(image="", kserve=True, runtime=runtime,
                                                  storage_uri="s3://models/linreg"))
    model = spec["spec"]["predictor"]["model"]
    assert model["modelFormat"] == {"name": runtime}
    assert model["storageUri"] == "s3://models/linreg"
    assert model["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}
    assert "containers" not in spec["spec"]["predictor"]


@pytest.mark.parametrize("overrides, message", [
    ({"expose": "ingress"}, "not one of clusterip, nodeport, loadbalancer"),
    ({"runtime": "sklearn", "storage_uri": "s3://b/m"}, "add --kserve"),
    ({"kserve": True, "runtime": "sklearn"}, "storage URI"),
    ({"kserve": True, "runtime": "onnx", "storage_uri": "s3://b/m"}, "not one of sklearn"),
    ({"port": 70000}, "not a TCP port"),
    ({"replicas": 0}, "replicas '0' must be a whole number, 1 or more"),
    ({"image": ""}, "has no image"),
])
def test_invalid_deploy_options(overrides, message):
    with pytest.raises(ConfigError, match=message):
        deploy_options(**overrides)


# -- the emulated API server accepts what we render ------------------------------------------------


def test_api_server_accepts_every_spec(kube_api):
    """Create each rendered object on the emulator (which validates like the API server and the
    Kubeflow webhooks: names, labels, quantities, replica types, container names), through the
    one request path, :class:`ClusterClient`."""
    from fairing_magics.kube.access import load_cluster_access
    from fairing_magics.kube.api_resources import API_RESOURCES
    from fairing_magics.kube.client import ClusterClient

    access = load_cluster_access(kubeconfig=kube_api.kubeconfig)
    client = ClusterClient(access)
    ns = "default"
    full = dict(namespace=ns, cpu="500m", memory="1Gi", env={"A": "1"},
                env_from_secrets=["creds"], node_selector={"pool": "gpu"},
                tolerations=[parse_toleration("nvidia.com/gpu:NoSchedule")],
                service_account="default-editor", image_pull_secrets=["pull"],
                volumes=[parse_volume("pvc:data:/mnt/data"), parse_volume("secret:s:/etc/s")],
                labels={"team": "ml"}, annotations={"note": "a b c"}, timeout=600)
    specs = [
        render_job(job_options(name="job-abc123", **full)),
        render_tfjob(job_options(name="tf-abc123", kind="tfjob", workers=2, gpus=1,
                                 parameter_servers=1, **full)),
        render_pytorchjob(job_options(name="pt-abc123", kind="pytorchjob", workers=2, **full)),
        *render_endpoint(deploy_options(name="ep", namespace=ns, replicas=2,
                                        expose="loadbalancer")),
        render_inferenceservice(deploy_options(name="isvc", namespace=ns, kserve=True)),
        render_inferenceservice(deploy_options(name="isvc-sk", namespace=ns, image="", kserve=True,
                                               runtime="sklearn", storage_uri="s3://b/m")),
    ]
    try:
        for spec in specs:
            resource = {v.kind: v for v in API_RESOURCES.values()}[spec["kind"]]
            made = client.create(resource, spec, namespace=ns)
            assert made["metadata"]["uid"], spec["kind"]
            assert made["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "fairing-magics"
            assert made["metadata"]["labels"]["fairing.dev/run"] == spec["metadata"]["name"]
    finally:
        access.close()
