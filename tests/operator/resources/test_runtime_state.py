"""How maintenance and failover (kept in .status) shape the children."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.resources import desired_children
from repairgpt_operator.resources.deployment import build_deployment
from repairgpt_operator.resources.maintenance_deployment import build_maintenance_deployment
from repairgpt_operator.resources.service import build_service
from tests.operator.factories import make_instance

WITH_REPLICA = {
    "database": {"replica": {"secretName": "repairgpt-db-replica", "key": "database-url"}},
    "failover": {"enabled": True},
}
HPA = {"autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 9}}


def env_of(deployment: dict[str, Any]) -> dict[str, Any]:
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    return {item["name"]: item.get("value", item.get("valueFrom")) for item in container["env"]}


def kinds_and_names(children: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(c["kind"], c["metadata"]["name"]) for c in children}


def test_after_failover_the_api_reads_the_replica_secret_in_read_only_mode() -> None:
    on_primary = env_of(build_deployment(make_instance(WITH_REPLICA)))
    assert on_primary["DATABASE_URL"] == {
        "secretKeyRef": {"name": "repairgpt-db", "key": "database-url"}
    }
    assert "READ_ONLY_MODE" not in on_primary
    # On the primary the API knows the replica too, to serve reads while the primary is down.
    assert on_primary["DATABASE_REPLICA_URL"] == {
        "secretKeyRef": {"name": "repairgpt-db-replica", "key": "database-url"}
    }

    failed_over = make_instance(WITH_REPLICA, status={"database": {"active": "replica"}})
    env = env_of(build_deployment(failed_over))
    assert env["DATABASE_URL"] == {
        "secretKeyRef": {"name": "repairgpt-db-replica", "key": "database-url"}
    }
    assert env["READ_ONLY_MODE"] == "true"
    assert "DATABASE_REPLICA_URL" not in env
    assert "DATABASE_REPLICA_URL" not in env_of(build_deployment(make_instance()))


def test_in_maintenance_the_api_is_held_at_zero_without_hpa_or_pdb() -> None:
    instance = make_instance(HPA, status={"maintenance": {"phase": "On", "previousReplicas": 4}})
    children = desired_children(instance)
    names = kinds_and_names(children)
    assert ("Deployment", "shop-maintenance") in names
    assert ("HorizontalPodAutoscaler", "shop-api") not in names
    assert ("PodDisruptionBudget", "shop-api") not in names
    api = next(
        c for c in children if c["metadata"]["name"] == "shop-api" and c["kind"] == "Deployment"
    )
    assert api["spec"]["replicas"] == 0
    selector = build_service(instance)["spec"]["selector"]
    assert selector["app.kubernetes.io/component"] == "maintenance"


def test_while_exiting_the_service_stays_on_the_page_but_the_api_and_its_guards_return() -> None:
    instance = make_instance(
        HPA, status={"maintenance": {"phase": "Exiting", "previousReplicas": 4}}
    )
    names = kinds_and_names(desired_children(instance))
    assert {
        ("Deployment", "shop-maintenance"),
        ("HorizontalPodAutoscaler", "shop-api"),
        ("PodDisruptionBudget", "shop-api"),
    } <= names
    assert "replicas" not in build_deployment(instance)["spec"]  # the HPA's again
    assert build_service(instance)["spec"]["selector"]["app.kubernetes.io/component"] == (
        "maintenance"
    )


def test_out_of_maintenance_nothing_of_it_remains() -> None:
    instance = make_instance({"replicas": 3})
    names = kinds_and_names(desired_children(instance))
    assert ("Deployment", "shop-maintenance") not in names
    assert build_deployment(instance)["spec"]["replicas"] == 3
    assert build_service(instance)["spec"]["selector"]["app.kubernetes.io/component"] == "api"


def test_the_maintenance_page_runs_the_app_image_without_any_secret() -> None:
    instance = make_instance(
        {"maintenance": {"enabled": True, "message": "Back at 14:00"}, **WITH_REPLICA},
        status={"maintenance": {"phase": "On"}},
    )
    page = build_maintenance_deployment(instance)
    assert page["spec"]["replicas"] == 1
    container = page["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == instance.spec.image
    env = env_of(page)
    assert env["MAINTENANCE_MODE"] == "true"
    assert env["MAINTENANCE_MESSAGE"] == "Back at 14:00"
    assert not any(isinstance(value, dict) for value in env.values()), "no secret references"
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    labels = page["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/component"] == "maintenance"
    assert page["metadata"]["ownerReferences"][0]["name"] == "shop"
