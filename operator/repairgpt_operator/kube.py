"""The only module that talks to the Kubernetes API: server-side apply, get, delete, status, events.

Everything goes through the `kubernetes` client's ApiClient with plain dicts, so one code path
serves every kind; writes use server-side apply with a single field manager and force, which makes
the operator the owner of exactly the fields it sets and leaves the rest (HPA replicas, defaults,
other tools' labels) alone.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from typing import Any, NamedTuple

from kubernetes import client as k8s_client
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from repairgpt_operator.instance.spec import API_VERSION, KIND, PLURAL
from repairgpt_operator.ownership import FIELD_MANAGER
from repairgpt_operator.restore.spec import RESTORE_KIND, RESTORE_PLURAL
from repairgpt_operator.timestamps import now_rfc3339

APPLY_CONTENT_TYPE = "application/apply-patch+yaml"
MERGE_PATCH_CONTENT_TYPE = "application/merge-patch+json"
REQUEST_TIMEOUT_SECONDS = 30

_PLURALS = {
    "ServiceAccount": "serviceaccounts",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Service": "services",
    "Pod": "pods",
    "Event": "events",
    "Deployment": "deployments",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "NetworkPolicy": "networkpolicies",
    "Ingress": "ingresses",
    "CronJob": "cronjobs",
    "Job": "jobs",
    KIND: PLURAL,
    RESTORE_KIND: RESTORE_PLURAL,
}


class ApiError(Exception):
    """The API server refused a request; `message` is the server's own explanation."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

    def about(self, what: str) -> ApiError:
        """The same refusal, its message prefixed with what it was about (e.g. a child)."""
        return ApiError(self.status, self.reason, f"{what}: {self.message}")

    @property
    def namespace_terminating(self) -> bool:
        """The namespace is being deleted: nothing can be created in it any more."""
        return self.status == 403 and "being terminated" in self.message

    @property
    def retryable(self) -> bool:
        """Server-side or transient failures; 4xx other than conflicts and throttling will not
        pass by themselves until the spec changes."""
        return self.status >= 500 or self.status in (0, 409, 429)


def _api_error(error: ApiException) -> ApiError:
    """A connection-level failure (no HTTP status) as an ApiError."""
    return ApiError(int(error.status or 0), "ConnectionFailed", str(error.reason or error))


def _error_from_body(status: int, data: bytes) -> ApiError:
    """The API server's Status object (reason, message) of a failed request."""
    try:
        body = json.loads(data or b"{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = str(body.get("message") or data[:500].decode(errors="replace") or f"HTTP {status}")
    return ApiError(status, str(body.get("reason") or ""), message)


class _Reply(NamedTuple):
    """The HTTP status and raw body of one request."""

    status: int
    data: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status <= 299

    def checked(self) -> bytes:
        """The body of a 2xx reply; any other status raises the API server's refusal."""
        if not self.ok:
            raise _error_from_body(self.status, self.data)
        return self.data

    def json(self) -> dict[str, Any]:
        """The JSON object of a 2xx reply ({} for an empty body)."""
        data = self.checked()
        result: dict[str, Any] = json.loads(data) if data else {}
        return result


def resource_path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    """The REST path of a namespaced object (or of its collection when name is None)."""
    plural = _PLURALS.get(kind, kind.lower() + "s")
    prefix = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = f"{prefix}/namespaces/{namespace}/{plural}"
    return f"{path}/{name}" if name else path


def load_api_client(pool_size: int = 32) -> k8s_client.ApiClient:
    """An ApiClient from the in-cluster service account, else from KUBECONFIG/~/.kube/config."""
    configuration = k8s_client.Configuration()
    try:
        k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration
        )
    except k8s_config.ConfigException:
        # Read KUBECONFIG now: the client library's default is fixed when it is imported.
        k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=os.environ.get("KUBECONFIG") or None,
            client_configuration=configuration,
        )
    # Handlers run in a thread pool; let each thread keep its own connection.
    configuration.connection_pool_maxsize = pool_size
    return k8s_client.ApiClient(configuration)


class Kube:
    """A thin, thread-safe gateway to the API server for plain-dict objects."""

    def __init__(self, api_client: k8s_client.ApiClient) -> None:
        self._api = api_client

    @property
    def server(self) -> str:
        return str(self._api.configuration.host)

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        query: list[tuple[str, str]] | None = None,
    ) -> _Reply:
        """The status and body of one request; raises ApiError for connection failures."""
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        try:
            request = self._api.param_serialize(
                method,
                path,
                query_params=query or [],
                header_params=headers,
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self._api.call_api(*request, _request_timeout=REQUEST_TIMEOUT_SECONDS)
            data: bytes = response.read() or b""  # type: ignore[no-untyped-call]
            return _Reply(int(response.status), data)
        except ApiException as error:
            if not error.status:
                raise _api_error(error) from None
            raw_body: Any = error.body
            if not isinstance(raw_body, bytes):
                raw_body = str(raw_body or "").encode()
            return _Reply(int(error.status), raw_body)

    def apply(
        self, manifest: dict[str, Any], *, field_manager: str = FIELD_MANAGER
    ) -> dict[str, Any]:
        """Server-side apply of a namespaced manifest; returns the object as stored."""
        metadata = manifest["metadata"]
        path = resource_path(
            manifest["apiVersion"], manifest["kind"], metadata["namespace"], metadata["name"]
        )
        return self._request(
            "PATCH",
            path,
            body=manifest,
            content_type=APPLY_CONTENT_TYPE,
            query=[("fieldManager", field_manager), ("force", "true")],
        ).json()

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when it does not exist."""
        try:
            return self._request("GET", resource_path(api_version, kind, namespace, name)).json()
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def list(
        self, api_version: str, kind: str, namespace: str, *, label_selector: str = ""
    ) -> list[dict[str, Any]]:
        """The objects of one kind in a namespace."""
        query = [("labelSelector", label_selector)] if label_selector else []
        items: list[dict[str, Any]] = (
            self._request("GET", resource_path(api_version, kind, namespace), query=query)
            .json()
            .get("items", [])
        )
        return items

    def served_kinds(self, group_version: str) -> frozenset[str]:
        """The kinds an API group version serves (API discovery, open to every authenticated
        client: no RBAC rule); empty when the cluster does not serve it."""
        path = f"/apis/{group_version}" if "/" in group_version else f"/api/{group_version}"
        reply = self._request("GET", path)
        if reply.status == 404:
            return frozenset()
        resources = json.loads(reply.checked()).get("resources") or []
        # Subresources (servicemonitors/status) name their parent's kind too.
        return frozenset(str(r["kind"]) for r in resources if "/" not in str(r.get("name", "")))

    def get_raw(self, path: str) -> str:
        """The text body of a non-resource path such as /metrics or /readyz."""
        return self._request("GET", path).checked().decode(errors="replace")

    def pod_log_tail(self, namespace: str, pod: str, container: str, lines: int = 5) -> str:
        """The last lines of a container's log ("" when there is none yet, e.g. not started)."""
        path = resource_path("v1", "Pod", namespace, pod) + "/log"
        query = [("container", container), ("tailLines", str(lines))]
        reply = self._request("GET", path, query=query, content_type="text/plain")
        return reply.data.decode(errors="replace") if reply.ok else ""

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete an object (dependents in the background); False when it did not exist."""
        try:
            self._request(
                "DELETE",
                resource_path(api_version, kind, namespace, name),
                body={"propagationPolicy": "Background"},
            ).json()
        except ApiError as error:
            if error.status == 404:
                return False
            raise
        return True

    def get_instance(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A RepairGPTInstance, or None."""
        return self.get(API_VERSION, KIND, namespace, name)

    def patch_instance_status(
        self,
        namespace: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Merge `status` into the instance's status subresource.

        With resource_version the server refuses (409 Conflict) if the object changed since it
        was read, so that a status computed from an old copy never overwrites a newer one.
        """
        return self.patch_status(
            API_VERSION, KIND, namespace, name, status, resource_version=resource_version
        )

    def patch_status(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        status: dict[str, Any],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Merge `status` into an object's status subresource (conditional like above)."""
        path = resource_path(api_version, kind, namespace, name) + "/status"
        body: dict[str, Any] = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        return self._request("PATCH", path, body=body, content_type=MERGE_PATCH_CONTENT_TYPE).json()

    def annotate_instance(
        self,
        namespace: str,
        name: str,
        annotations: dict[str, str | None],
        *,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """Set (or, with None, remove) annotations of an instance; with resource_version the
        server refuses (409) if the instance changed since it was read."""
        metadata: dict[str, Any] = {"annotations": annotations}
        if resource_version:
            metadata["resourceVersion"] = resource_version
        path = resource_path(API_VERSION, KIND, namespace, name)
        return self.patch_object(path, {"metadata": metadata})

    def patch_object(self, path: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch of the object at `path` (None values remove keys)."""
        return self._request(
            "PATCH", path, body=patch, content_type=MERGE_PATCH_CONTENT_TYPE
        ).json()

    def post_event(
        self,
        involved: dict[str, Any],
        *,
        type_: str,
        reason: str,
        message: str,
    ) -> None:
        """Record a core/v1 Event about an object (shown by `kubectl describe`)."""
        metadata = involved.get("metadata") or {}
        namespace = str(metadata.get("namespace") or "default")
        now = now_rfc3339()
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "name": f"{metadata.get('name')}.{uuid.uuid4().hex[:16]}",
                "namespace": namespace,
            },
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": metadata.get("name"),
                "namespace": namespace,
                "uid": metadata.get("uid"),
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": FIELD_MANAGER},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        self._request("POST", resource_path("v1", "Event", namespace), body=event).json()


_shared: Kube | None = None
_shared_lock = threading.Lock()


def shared() -> Kube:
    """The process-wide gateway, created on first use from the environment's credentials."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = Kube(load_api_client())
        return _shared
