"""The plugin's view of the cluster: the kubeconfig loaded as kubectl loads it, and the few
reads and writes the verbs need, with API errors turned into sentences."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from repairgpt_operator.instance.spec import GROUP, KIND, PLURAL, VERSION
from repairgpt_operator.restore.spec import RESTORE_PLURAL


class PluginError(Exception):
    """A failure to report in one sentence; the command exits non-zero."""


@dataclass(frozen=True)
class Target:
    """Where to connect: --kubeconfig (else KUBECONFIG, else ~/.kube/config), --context and
    --namespace (else the context's namespace, else `default`)."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None


def _context_namespace(target: Target) -> str:
    try:
        contexts, active = config.list_kube_config_contexts(  # type: ignore[no-untyped-call]
            config_file=target.kubeconfig
        )
    except (config.ConfigException, OSError):
        return "default"
    chosen = active
    if target.context:
        chosen = next((c for c in contexts if c.get("name") == target.context), active)
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")


def _describe(error: ApiException) -> str:
    """The API server's own message (its Status body), else the HTTP reason."""
    try:
        body = json.loads(error.body or "{}")
    except ValueError:
        body = {}
    return str(body.get("message") or error.reason or f"HTTP {error.status}")


class Cluster:
    """The calls of the verbs, on one namespace."""

    def __init__(self, target: Target) -> None:
        try:
            api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
                config_file=target.kubeconfig or os.environ.get("KUBECONFIG") or None,
                context=target.context,
            )
        except (config.ConfigException, OSError, TypeError) as error:
            raise PluginError(f"cannot load the kubeconfig: {error}") from None
        self.namespace = target.namespace or _context_namespace(target)
        self._client = api_client
        self._custom = client.CustomObjectsApi(api_client)
        self._core = client.CoreV1Api(api_client)
        self._batch = client.BatchV1Api(api_client)

    def _call(self, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except ApiException as error:
            if error.status == 404:
                raise PluginError(f"{what} not found in namespace {self.namespace}") from None
            raise PluginError(f"{what}: {_describe(error)}") from None
        except OSError as error:  # urllib3 wraps connection failures in OSError subclasses
            raise PluginError(f"cannot reach the API server: {error}") from None

    def _plain(self, obj: Any) -> Any:
        return self._client.sanitize_for_serialization(obj)

    def _custom_object(self, what: str, method: Any, plural: str, *args: Any) -> dict[str, Any]:
        """One call of the CustomObjectsApi on a repairgpt.io kind in this namespace."""
        body: dict[str, Any] = self._call(
            what, method, GROUP, VERSION, self.namespace, plural, *args
        )
        return body

    def instance(self, name: str) -> dict[str, Any]:
        """The RepairGPTInstance `name`, as a dict."""
        return self._custom_object(
            f'{KIND} "{name}"', self._custom.get_namespaced_custom_object, PLURAL, name
        )

    def patch_instance(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch of the instance (spec or metadata), as `kubectl patch --type
        merge` sends it."""
        return self._custom_object(
            f'{KIND} "{name}"', self._custom.patch_namespaced_custom_object, PLURAL, name, patch
        )

    def annotate_instance(self, name: str, annotations: dict[str, str]) -> dict[str, Any]:
        return self.patch_instance(name, {"metadata": {"annotations": annotations}})

    def create_restore(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._custom_object(
            "RepairGPTRestore", self._custom.create_namespaced_custom_object, RESTORE_PLURAL, body
        )

    def restore(self, name: str) -> dict[str, Any]:
        return self._custom_object(
            f'RepairGPTRestore "{name}"',
            self._custom.get_namespaced_custom_object,
            RESTORE_PLURAL,
            name,
        )

    def job(self, name: str) -> dict[str, Any] | None:
        try:
            return dict(self._plain(self._batch.read_namespaced_job(name, self.namespace)))
        except ApiException as error:
            if error.status == 404:
                return None
            raise PluginError(f'Job "{name}": {_describe(error)}') from None

    def events_about(self, kind: str, name: str) -> list[dict[str, Any]]:
        """core/v1 Events whose involved object is `kind/name`."""
        selector = f"involvedObject.kind={kind},involvedObject.name={name}"
        events = self._call(
            "Events", self._core.list_namespaced_event, self.namespace, field_selector=selector
        )
        return [dict(item) for item in self._plain(events).get("items") or []]

    def pods(self, selector: str) -> list[dict[str, Any]]:
        pods = self._call(
            "Pods", self._core.list_namespaced_pod, self.namespace, label_selector=selector
        )
        return [dict(item) for item in self._plain(pods).get("items") or []]

    def pod_log(self, pod: str, container: str, tail: int | None) -> str:
        text: str = self._call(
            f'the log of pod "{pod}"',
            self._core.read_namespaced_pod_log,
            pod,
            self.namespace,
            container=container,
            tail_lines=tail,
        )
        return text
