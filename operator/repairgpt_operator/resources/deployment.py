"""Builds the Deployment `<instance>-api` that runs the RepairGPT API."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from repairgpt_operator.instance.model import Instance
from repairgpt_operator.instance.spec_workload import ResourceList
from repairgpt_operator.maintenance import state as maintenance
from repairgpt_operator.ownership import child_metadata, child_name, common_labels, selector_labels
from repairgpt_operator.resources.configmap import DATA_DIR, config_data
from repairgpt_operator.rollout.health import RESTART_TEMPLATE_ANNOTATION

API_PORT = 8000
# A numeric non-root user, so that runAsNonRoot can be verified whatever USER the image names.
RUN_AS_USER = 10001
CONFIG_HASH_ANNOTATION = "repairgpt.io/config-hash"
# /tmp holds request bodies spooled while they stream in: room for 25 uploads at the API's
# default cap (UPLOAD_MAX_BYTES, 10 MiB) at once. Each emptyDir of the pod has a sizeLimit, so
# that one pod cannot fill the node's disk (the kubelet evicts the pod instead).
TMP_SIZE_LIMIT = "256Mi"


def api_replicas(instance: Instance) -> int | None:
    """The replica count the operator sets, or None when the HPA owns it (never fight the HPA);
    0 while maintenance holds the API."""
    return maintenance.api_replicas(
        instance.state.maintenance,
        spec_replicas=instance.spec.replicas,
        autoscaling=instance.spec.autoscaling.enabled,
    )


def _resource_list(resources: ResourceList) -> dict[str, Any]:
    return {
        name: value
        for name, value in (("cpu", resources.cpu), ("memory", resources.memory))
        if value is not None
    }


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def api_environment(instance: Instance) -> list[dict[str, Any]]:
    """Secret-backed environment variables: references only, never a value."""
    spec = instance.spec
    database = spec.database.primary
    if instance.state.database_active == "replica" and spec.database.replica is not None:
        # Failed over: the replica's URL, and read-only mode so that writes fail cleanly (503)
        # instead of being attempted on a standby.
        database = spec.database.replica
    env = [_secret_env("DATABASE_URL", database.secret_name, database.key)]
    if database is spec.database.replica:
        env.append({"name": "READ_ONLY_MODE", "value": "true"})
    elif spec.database.replica is not None:
        # On the primary, the API serves reads from the replica while it cannot reach the
        # primary: reads keep working through the probes and the rollout of a failover.
        replica = spec.database.replica
        env.append(_secret_env("DATABASE_REPLICA_URL", replica.secret_name, replica.key))
    if spec.redis is not None:
        env.append(_secret_env("REDIS_URL", spec.redis.secret_name, spec.redis.key))
    if spec.llm.api_key_secret is not None:
        key = spec.llm.api_key_secret
        env.append(_secret_env(spec.llm.api_key_variable, key.name, key.key))
    embeddings_key = spec.embeddings.api_key_secret
    if spec.embeddings.base_url and embeddings_key is not None:
        env.append(_secret_env("EMBEDDINGS_API_KEY", embeddings_key.name, embeddings_key.key))
    if spec.storage.s3 is not None and spec.storage.s3.credentials_secret:
        for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.append(_secret_env(variable, spec.storage.s3.credentials_secret, variable))
    if spec.admin_api_key_secret is not None:
        admin = spec.admin_api_key_secret
        env.append(_secret_env("ADMIN_API_KEY", admin.name, admin.key))
    return env


def config_hash(instance: Instance) -> str:
    """A digest of the ConfigMap data: a new value in the pod template rolls the pods when the
    configuration changes (envFrom is only read at container start)."""
    canonical = json.dumps(config_data(instance), sort_keys=True).encode()
    return hashlib.sha256(canonical).hexdigest()[:16]


# Seconds a stopping pod keeps serving before its process is told to stop: kube-proxy drops it
# from the Service's rules in that time, so no new connection meets a closed port.
PRE_STOP_SLEEP_SECONDS = 5


def pre_stop_lifecycle() -> dict[str, Any]:
    """Keep serving while the endpoints catch up with a pod's termination (sleep action,
    Kubernetes 1.30+: nothing is needed in the image)."""
    return {"preStop": {"sleep": {"seconds": PRE_STOP_SLEEP_SECONDS}}}


def restricted_container_security_context() -> dict[str, Any]:
    """The container side of the restricted Pod Security Standard, plus a read-only root."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


# The backup, verification and restore Jobs stream their dumps between the database and S3:
# /tmp is only scratch space for the PostgreSQL tools and boto3.
JOB_TMP_SIZE_LIMIT = "256Mi"


def job_scratch_volume() -> dict[str, Any]:
    """The writable /tmp of a Job pod whose root filesystem is read-only, size-limited."""
    return {"name": "tmp", "emptyDir": {"sizeLimit": JOB_TMP_SIZE_LIMIT}}


def restricted_pod_security_context() -> dict[str, Any]:
    """The pod side of the restricted Pod Security Standard."""
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS_USER,
        "runAsGroup": RUN_AS_USER,
        "fsGroup": RUN_AS_USER,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def api_container(instance: Instance) -> dict[str, Any]:
    """The API container: image, port, probes, resources, environment and security context."""
    spec = instance.spec
    return {
        "name": "api",
        # Not spec.image while a rollback or a backup before upgrade holds (status.rollout).
        "image": instance.state.api_image or spec.image,
        "imagePullPolicy": spec.image_pull_policy,
        "ports": [{"name": "http", "containerPort": API_PORT, "protocol": "TCP"}],
        "envFrom": [{"configMapRef": {"name": child_name(instance, "api")}}],
        "env": api_environment(instance),
        # Probed often at start (the process serves /health within a few seconds), so that a
        # new pod joins the Service about when it can: a failover or rollout waits on it. Not
        # every second: each failure is a kubelet Event, and past 25 Events of one pod the
        # kubelet drops the rest for minutes (readiness failures included).
        "startupProbe": {
            "httpGet": {"path": "/health", "port": "http"},
            "periodSeconds": 2,
            "failureThreshold": 90,
        },
        "livenessProbe": {
            "httpGet": {"path": "/health", "port": "http"},
            "periodSeconds": 10,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            "httpGet": {"path": "/ready", "port": "http"},
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
        "resources": {
            "requests": _resource_list(spec.resources.requests),
            "limits": _resource_list(spec.resources.limits),
        },
        "lifecycle": pre_stop_lifecycle(),
        "securityContext": restricted_container_security_context(),
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "data", "mountPath": DATA_DIR},
        ],
    }


def pod_template_annotations(instance: Instance) -> dict[str, str]:
    """The config digest, and the restart token once one was asked for: a new value of either
    rolls the pods."""
    annotations = {CONFIG_HASH_ANNOTATION: config_hash(instance)}
    if instance.state.restart_token:
        annotations[RESTART_TEMPLATE_ANNOTATION] = instance.state.restart_token
    return annotations


def build_deployment(instance: Instance) -> dict[str, Any]:
    """The API Deployment: RollingUpdate (maxUnavailable 1, maxSurge 1), restricted security,
    and `replicas` only when the HPA does not own it."""
    deployment_spec: dict[str, Any] = {
        "revisionHistoryLimit": 5,
        # Past it the controller reports ProgressDeadlineExceeded: RolloutHealthy turns False.
        "progressDeadlineSeconds": instance.spec.rollout.progress_deadline_seconds,
        "selector": {"matchLabels": selector_labels(instance, "api")},
        "strategy": {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1},
        },
        "template": {
            "metadata": {
                "labels": common_labels(instance, "api"),
                "annotations": pod_template_annotations(instance),
            },
            "spec": {
                "serviceAccountName": child_name(instance, "api"),
                "automountServiceAccountToken": False,
                "securityContext": restricted_pod_security_context(),
                "terminationGracePeriodSeconds": 30,
                "containers": [api_container(instance)],
                # The root filesystem is read-only: give the API writable scratch space.
                "volumes": [
                    {"name": "tmp", "emptyDir": {"sizeLimit": TMP_SIZE_LIMIT}},
                    {
                        "name": "data",
                        "emptyDir": {"sizeLimit": instance.spec.storage.empty_dir_size_limit},
                    },
                ],
            },
        },
    }
    replicas = api_replicas(instance)
    if replicas is not None:
        deployment_spec = {"replicas": replicas, **deployment_spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": child_metadata(instance),
        "spec": deployment_spec,
    }
