"""Preflight against the Kubernetes API emulator: real HTTP, real discovery, real
SelfSubjectAccessReviews, with CRDs removed and RBAC deny rules set per test.

``kube_api`` is a fresh API-only emulator per test (milliseconds to start, in this process);
one e2e test also runs the doctor against the session's full ``kube_cluster``.
"""

from __future__ import annotations

import socket

import pytest

from fairing_magics.errors import ClusterError, ConfigError
from fairing_magics.kube.access import (
    ClusterAccess,
    client_retries,
    load_cluster_access,
)
from fairing_magics.kube.preflight import (
    Finding,
    check_cluster,
    check_reachable,
    check_submit,
    format_findings,
    require_ok,
)


@pytest.fixture
def access(kube_api) -> ClusterAccess:
    result = load_cluster_access(kubeconfig=kube_api.kubeconfig,
                                 retries=client_retries(backoff_factor=0))
    yield result
    result.close()


def by_check(findings: list[Finding]) -> dict[str, Finding]:
    return {f.check: f for f in findings}


def test_everything_in_place_for_a_job(access):
    findings = check_cluster(access, "job")
    assert all(f.ok for f in findings), format_findings(findings)
    checks = [f.check for f in findings]
    assert checks == ["api", "create jobs.batch", "get jobs.batch", "delete jobs.batch",
                      "list pods", "watch pods", "get pods/log", "list events"]
    assert "Kubernetes v1." in findings[0].message
    assert "namespace default" in findings[0].message
    require_ok(findings)


@pytest.mark.parametrize("kind, crd", [("tfjob", "crd tfjobs.kubeflow.org"),
                                       ("pytorchjob", "crd pytorchjobs.kubeflow.org"),
                                       ("inferenceservice",
                                        "crd inferenceservices.serving.kserve.io")])
def test_installed_crds_are_found(access, kind, crd):
    findings = by_check(check_cluster(access, kind))
    assert findings[crd].ok, findings[crd].message
    assert all(f.ok for f in findings.values())


def test_missing_training_operator(kube_api, access):
    kube_api.emulator.remove_crd("tfjobs.kubeflow.org")
    findings = check_cluster(access, "tfjob")
    assert [f.check for f in findings] == ["api", "crd tfjobs.kubeflow.org"]
    problem = findings[-1]
    assert problem.problem
    assert "this cluster has no tfjobs.kubeflow.org" in problem.message
    assert "Install the Kubeflow training operator, or train with --kind job" in problem.message
    # PyTorchJob is another CRD of the same group: still there.
    assert all(f.ok for f in check_submit(access, "pytorchjob"))
    with pytest.raises(ClusterError, match="no tfjobs.kubeflow.org"):
        require_ok(check_submit(access, "tfjob"))


def test_missing_kserve(kube_api, access):
    kube_api.emulator.remove_crd("inferenceservices.serving.kserve.io")
    problem = check_submit(access, "inferenceservice")[-1]
    assert problem.problem
    assert "Install KServe, or deploy without --kserve" in problem.message


def test_rbac_create_denied_names_the_rule(kube_api, access):
    kube_api.emulator.deny("create", "tfjobs", group="kubeflow.org")
    findings = by_check(check_cluster(access, "tfjob", namespace="kubeflow-user"))
    problem = findings["create tfjobs.kubeflow.org"]
    assert problem.problem
    assert problem.message.startswith(
        "the user 'emulator-user' of context 'emulator' may not create tfjobs.kubeflow.org in "
        "namespace kubeflow-user: ")
    assert 'apiGroups: ["kubeflow.org"], resources: ["tfjobs"], verbs: ["create"]' in \
        problem.message
    assert "kubectl -n kubeflow-user create role fairing-tfjobs --verb=create " \
           "--resource=tfjobs.kubeflow.org" in problem.message
    assert findings["get tfjobs.kubeflow.org"].ok
    with pytest.raises(ClusterError, match="may not create tfjobs.kubeflow.org"):
        require_ok(check_submit(access, "tfjob", namespace="kubeflow-user"))


def test_rbac_pod_logs_denied(kube_api, access):
    kube_api.emulator.deny("get", "pods", subresource="log")
    findings = by_check(check_cluster(access, "job"))
    problem = findings["get pods/log"]
    assert problem.problem
    assert "may not get pods/log in namespace default" in problem.message
    assert "--verb=get --resource=pods/log" in problem.message
    assert findings["list pods"].ok
    # The cheap check before a submit does not ask about logs.
    require_ok(check_submit(access, "job"))


def test_events_denied_is_only_a_warning(kube_api, access):
    kube_api.emulator.deny("list", "events")
    findings = by_check(check_cluster(access, "job"))
    warning = findings["list events"]
    assert not warning.ok and not warning.problem
    assert str(warning).startswith("[warning] list events: ")
    require_ok(findings.values())


def test_deployment_needs_services_too(kube_api, access):
    kube_api.emulator.deny("create", "services")
    findings = by_check(check_cluster(access, "deployment"))
    assert findings["create deployments.apps"].ok
    assert findings["create services"].problem


def test_api_answering_429_is_retried(kube_api, access):
    kube_api.emulator.fail_requests(429, count=2, path="^/version", retry_after=0)
    finding = check_reachable(access)
    assert finding.ok, finding.message
    assert kube_api.emulator.faults.failed_requests == 2


def test_unreachable_api_is_the_only_finding(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "config"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        f"clusters: [{{name: k, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: k, user: u}}]\n")
    access = load_cluster_access(kubeconfig=config, retries=client_retries(backoff_factor=0))
    findings = check_cluster(access, "tfjob")
    assert len(findings) == 1 and findings[0].problem
    assert f"cannot reach the Kubernetes API at http://127.0.0.1:{port}" in findings[0].message
    assert format_findings(findings).startswith("[PROBLEM] api: cannot reach")


def test_unknown_kind():
    with pytest.raises(ConfigError, match="cannot check kind 'mpijob'"):
        check_cluster(None, "mpijob")


@pytest.mark.e2e
def test_doctor_on_the_full_emulated_cluster(kube_cluster):
    access = load_cluster_access(kubeconfig=kube_cluster.kubeconfig, namespace="preflight",
                                 retries=client_retries(backoff_factor=0))
    try:
        findings = check_cluster(access, "tfjob")
        assert all(f.ok for f in findings), format_findings(findings)
        assert "namespace preflight" in findings[0].message
    finally:
        access.close()
