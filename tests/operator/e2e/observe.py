"""Reads the cluster with kubectl and waits for conditions, for the end-to-end tests."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

T = TypeVar("T")


class Kubectl(Protocol):
    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60
    ) -> Any: ...


def wait_established(cluster: Kubectl, *names: str, timeout: float = 60.0) -> None:
    """Wait for CRDs to be served: those named, or all of them. `kubectl wait` fails at once,
    rather than waiting, while a CRD just created has no conditions yet ("accessor error:
    <nil>"): it is asked again until `timeout`."""
    targets = [f"crd/{name}" for name in names] or ["crd", "--all"]
    deadline = time.monotonic() + timeout
    while True:
        result = cluster.kubectl(
            "wait", "--for=condition=Established", *targets, f"--timeout={timeout:.0f}s",
            check=False,
        )  # fmt: skip
        if result.returncode == 0:
            return
        assert time.monotonic() < deadline, f"{targets} not Established: {result.stderr}"
        time.sleep(0.5)


def get_json(cluster: Kubectl, namespace: str, kind: str, name: str) -> dict[str, Any] | None:
    """The object as JSON, or None when it does not exist."""
    result = cluster.kubectl(
        "-n", namespace, "get", kind, name, "-o", "json", "--show-managed-fields", check=False
    )
    if result.returncode != 0:
        if "NotFound" in result.stderr or "not found" in result.stderr:
            return None
        raise AssertionError(result.stderr)
    found: dict[str, Any] = json.loads(result.stdout)
    return found


def list_json(
    cluster: Kubectl, namespace: str, kind: str, selector: str = ""
) -> list[dict[str, Any]]:
    args = ["-n", namespace, "get", kind, "-o", "json"]
    if selector:
        args += ["-l", selector]
    items: list[dict[str, Any]] = json.loads(cluster.kubectl(*args).stdout)["items"]
    return items


def wait_until(
    probe: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.25
) -> T:
    """Call `probe` until it returns something truthy; fail with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def condition(obj: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == type_:
            found: dict[str, Any] = item
            return found
    return None


def is_reconciled(obj: dict[str, Any] | None) -> bool:
    """observedGeneration caught up with generation and Reconciled=True."""
    if not obj:
        return False
    status = obj.get("status") or {}
    reconciled = condition(obj, "Reconciled")
    return (
        status.get("observedGeneration") == obj["metadata"]["generation"]
        and reconciled is not None
        and reconciled["status"] == "True"
    )
