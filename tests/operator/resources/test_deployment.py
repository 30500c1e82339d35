"""The API Deployment follows the spec and the operations guide."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.resources.deployment import build_deployment
from repairgpt_operator.resources.maintenance_deployment import build_maintenance_deployment
from tests.operator.factories import example_instance, make_instance


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def _env(deployment: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item for item in _container(deployment)["env"]}


def test_deployment_is_named_labelled_and_owned_by_the_instance() -> None:
    deployment = build_deployment(make_instance(name="shop"))
    metadata = deployment["metadata"]
    assert metadata["name"] == "shop-api" and metadata["namespace"] == "repair"
    assert metadata["labels"] == {
        "app.kubernetes.io/name": "repairgpt",
        "app.kubernetes.io/instance": "shop",
        "app.kubernetes.io/component": "api",
        "app.kubernetes.io/managed-by": "repairgpt-operator",
    }
    (owner,) = metadata["ownerReferences"]
    assert owner["kind"] == "RepairGPTInstance" and owner["name"] == "shop"
    assert owner["controller"] is True


def test_deployment_runs_the_image_with_the_replicas_of_the_spec() -> None:
    deployment = build_deployment(make_instance({"image": "registry/app:9", "replicas": 3}))
    assert deployment["spec"]["replicas"] == 3
    assert _container(deployment)["image"] == "registry/app:9"


def test_deployment_leaves_replicas_to_the_hpa_when_autoscaling() -> None:
    deployment = build_deployment(make_instance({"autoscaling": {"enabled": True}, "replicas": 3}))
    assert "replicas" not in deployment["spec"]


def test_rolling_update_replaces_one_pod_at_a_time() -> None:
    strategy = build_deployment(make_instance())["spec"]["strategy"]
    assert strategy == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1},
    }


def test_probes_hit_health_and_ready() -> None:
    container = _container(build_deployment(make_instance()))
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"


def test_selector_matches_the_pod_labels() -> None:
    spec = build_deployment(make_instance())["spec"]
    for key, value in spec["selector"]["matchLabels"].items():
        assert spec["template"]["metadata"]["labels"][key] == value


def test_resources_come_from_the_spec() -> None:
    container = _container(build_deployment(example_instance("production")))
    assert container["resources"] == {
        "requests": {"cpu": "1", "memory": "1Gi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }


def test_secrets_are_referenced_never_inlined() -> None:
    deployment = build_deployment(example_instance("production"))
    env = _env(deployment)
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "repairgpt-db",
        "key": "database-url",
    }
    assert env["REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"] == "repairgpt-redis"
    assert env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "repairgpt-llm",
        "key": "api-key",
    }
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "repairgpt-s3"
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "repairgpt-s3"
    assert all("value" not in item for item in env.values())


def test_optional_secrets_are_absent_when_not_configured() -> None:
    env = _env(build_deployment(make_instance()))
    assert set(env) == {"DATABASE_URL"}


def test_pods_meet_the_restricted_pod_security_profile() -> None:
    pod = build_deployment(make_instance())["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    context = pod["containers"][0]["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}


def test_read_only_root_still_has_writable_tmp() -> None:
    container = _container(build_deployment(make_instance()))
    assert "/tmp" in {mount["mountPath"] for mount in container["volumeMounts"]}


def test_config_change_changes_the_pod_template() -> None:
    quiet = build_deployment(make_instance({"config": {"logLevel": "INFO"}}))
    loud = build_deployment(make_instance({"config": {"logLevel": "DEBUG"}}))
    assert quiet["spec"]["template"] != loud["spec"]["template"]


def test_builder_returns_fresh_objects() -> None:
    instance = make_instance()
    first = build_deployment(instance)
    first["spec"]["template"]["metadata"]["labels"]["x"] = "y"
    assert "x" not in build_deployment(instance)["spec"]["template"]["metadata"]["labels"]


def test_a_stopping_pod_keeps_serving_until_the_service_has_dropped_it() -> None:
    container = _container(build_deployment(make_instance()))
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] >= 3
    grace = build_deployment(make_instance())["spec"]["template"]["spec"][
        "terminationGracePeriodSeconds"
    ]
    # The sleep and uvicorn's 20 s graceful shutdown both fit in the grace period.
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] + 20 <= grace


def test_the_admin_key_comes_from_the_secret_the_spec_names() -> None:
    deployment = build_deployment(
        make_instance({"adminApiKeySecret": {"name": "repairgpt-admin", "key": "admin-api-key"}})
    )
    assert _env(deployment)["ADMIN_API_KEY"] == {
        "name": "ADMIN_API_KEY",
        "valueFrom": {"secretKeyRef": {"name": "repairgpt-admin", "key": "admin-api-key"}},
    }


def _volumes(deployment: dict[str, Any]) -> dict[str, Any]:
    return {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}


def test_every_scratch_volume_of_the_api_and_maintenance_pods_has_a_size_limit() -> None:
    instance = make_instance()
    for deployment in (build_deployment(instance), build_maintenance_deployment(instance)):
        volumes = _volumes(deployment)
        assert volumes
        for volume in volumes.values():
            assert volume["emptyDir"]["sizeLimit"], volume["name"]


def test_the_upload_volume_holds_many_uploads_and_follows_the_spec() -> None:
    default = _volumes(build_deployment(make_instance()))
    # A hundred uploads at the API's default cap of 10 MiB.
    assert default["data"]["emptyDir"]["sizeLimit"] == "1Gi"
    assert default["tmp"]["emptyDir"]["sizeLimit"] == "256Mi"
    larger = build_deployment(make_instance({"storage": {"emptyDirSizeLimit": "5Gi"}}))
    assert _volumes(larger)["data"]["emptyDir"]["sizeLimit"] == "5Gi"


def test_claudes_key_comes_from_the_instances_secret_under_its_own_name() -> None:
    spec = {
        "llm": {
            "provider": "anthropic",
            "apiKeySecret": {"name": "claude-api-key", "key": "api-key"},
        }
    }
    env = _env(build_deployment(make_instance(spec)))
    assert env["ANTHROPIC_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "claude-api-key",
        "key": "api-key",
    }
    assert "OPENAI_API_KEY" not in env
