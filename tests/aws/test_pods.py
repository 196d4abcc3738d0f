"""Pod environment for --aws-secret: references to the Secret, never values."""

from fairing_magics.aws.pods import aws_env_from_secret


def test_nothing_by_default():
    assert aws_env_from_secret(None) == []
    assert aws_env_from_secret("") == []


def test_env_from_secret():
    env = aws_env_from_secret("aws-secret")
    by_name = {entry["name"]: entry for entry in env}
    assert list(by_name) == ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                             "AWS_REGION", "AWS_DEFAULT_REGION"]
    assert by_name["AWS_ACCESS_KEY_ID"] == {
        "name": "AWS_ACCESS_KEY_ID",
        "valueFrom": {"secretKeyRef": {"name": "aws-secret", "key": "AWS_ACCESS_KEY_ID"}}}
    assert "optional" not in by_name["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]
    for optional in ("AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION"):
        assert by_name[optional]["valueFrom"]["secretKeyRef"] == {
            "name": "aws-secret", "key": optional, "optional": True}
    assert all("value" not in entry for entry in env)


def test_region_as_plain_value():
    env = aws_env_from_secret("aws-secret", region="cn-northwest-1")
    plain = [entry for entry in env if "value" in entry]
    assert plain == [{"name": "AWS_REGION", "value": "cn-northwest-1"},
                     {"name": "AWS_DEFAULT_REGION", "value": "cn-northwest-1"}]


def test_env_is_valid_for_the_kubernetes_client():
    from kubernetes import client

    env = aws_env_from_secret("aws-secret")
    typed = [client.V1EnvVar(name=entry["name"], value_from=client.V1EnvVarSource(
        secret_key_ref=client.V1SecretKeySelector(**entry["valueFrom"]["secretKeyRef"])))
        for entry in env]
    assert client.ApiClient().sanitize_for_serialization(typed) == env
