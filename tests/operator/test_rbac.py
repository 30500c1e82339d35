"""Both installations grant the operator exactly what its code uses: no verb more, none less.

What the operator uses is derived from the code itself:
- kopf: the resources its handlers are registered for (watched: list and watch; with change
  handlers also patched, for kopf's own annotations), the CRDs its cluster scanning follows, and
  the Events it posts unless posting is off;
- the API gateway (repairgpt_operator.kube.Kube, the only module that talks to the API server):
  every call of it in the operator's source, its kind read from the call's arguments;
- owner references with blockOwnerDeletion, which need `update` on the owner's finalizers.
"""

from __future__ import annotations

import ast
import inspect
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import kopf
import pytest
import yaml

from repairgpt_operator import kube, resources, runner
from repairgpt_operator.cli import build_parser
from repairgpt_operator.instance.spec import API_VERSION, KIND
from tests.operator.factories import REPO_ROOT

PACKAGE = REPO_ROOT / "operator" / "repairgpt_operator"
DEPLOY = REPO_ROOT / "deploy"

Access = tuple[str, str, str]  # (apiGroup, resource, verb)
Kind = tuple[str, str]  # (apiVersion, kind)

# How each method of the gateway reaches the API server: the verbs, the subresource, and where
# the kind comes from ("args": the call's apiVersion and kind arguments; "manifest": the applied
# object; "path": a resource_path(...) argument; otherwise a fixed kind).
GATEWAY: dict[str, tuple[tuple[str, ...], str, str | Kind]] = {
    "get": (("get",), "", "args"),
    "list": (("list",), "", "args"),
    "delete": (("delete",), "", "args"),
    "patch_status": (("patch",), "status", "args"),
    # Server-side apply is a PATCH that also needs `create` when the object is new.
    "apply": (("create", "patch"), "", "manifest"),
    "get_instance": (("get",), "", (API_VERSION, KIND)),
    "patch_instance_status": (("patch",), "status", (API_VERSION, KIND)),
    "annotate_instance": (("patch",), "", (API_VERSION, KIND)),
    "patch_object": (("patch",), "", "path"),
    "post_event": (("create",), "", ("v1", "Event")),
    "pod_log_tail": (("get",), "log", ("v1", "Pod")),
}
GATEWAY_NAMES = frozenset({"kube", "gateway"})


def _every_child_kind() -> set[Kind]:
    return {(kind.api_version, kind.kind) for kind in resources.API_CHILD_KINDS}


def _switchable_child_kinds() -> set[Kind]:
    """The kinds that an instance can switch off (the others are never deleted)."""
    always = resources._always
    return {(k.api_version, k.kind) for k in resources.API_CHILD_KINDS if k.wanted is not always}


# Where a kind that the call does not spell out comes from: the function or parameter that
# gives the variable holding the object. A call that fits none of these fails the test, so a
# new way of reaching the API server cannot go unnoticed.
DYNAMIC_SOURCES = {
    "desired_children": _every_child_kind,
    "desired_child": _every_child_kind,
    "unwanted_children": _switchable_child_kinds,
    "hand_over_replicas.manifest": _every_child_kind,
    "_sync_child.manifest": _every_child_kind,
    "restore_replicas_after_maintenance.manifest": _every_child_kind,
}


def _plural(api_version: str, kind: str) -> str:
    return kube.resource_path(api_version, kind, "ns").rpartition("/")[2]


def _accesses(kinds: set[Kind], verbs: tuple[str, ...], subresource: str) -> set[Access]:
    out: set[Access] = set()
    for api_version, kind in kinds:
        resource = _plural(api_version, kind) + (f"/{subresource}" if subresource else "")
        out |= {(api_version.rpartition("/")[0], resource, verb) for verb in verbs}
    return out


@dataclass
class Site:
    """One place in the operator's source."""

    module: ModuleType
    path: Path
    function: ast.FunctionDef | ast.AsyncFunctionDef | None

    def where(self, node: ast.AST) -> str:
        return f"{self.path.relative_to(REPO_ROOT)}:{getattr(node, 'lineno', '?')}"


# The kubectl plugin runs with the user's own credentials, never the operator's: its requests
# are not the operator's to grant.
PLUGIN = PACKAGE / "plugin"


def _modules() -> Iterator[tuple[ModuleType, Path, ast.Module]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.is_relative_to(PLUGIN):
            continue
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(relative.parts).removesuffix(".__init__")
        __import__(name)
        yield sys.modules[name], path, ast.parse(path.read_text())


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def _enclosing(
    tree: ast.Module,
) -> dict[ast.AST, ast.FunctionDef | ast.AsyncFunctionDef]:
    """The innermost function around each node."""
    owner: dict[ast.AST, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for function in sorted(_functions(tree), key=lambda f: f.lineno):
        for node in ast.walk(function):
            owner[node] = function
    return owner


def _is_gateway(receiver: ast.expr) -> bool:
    """`kube`, `gateway`, `kube.shared()` or `self._kube()`."""
    if isinstance(receiver, ast.Name):
        return receiver.id in GATEWAY_NAMES
    if isinstance(receiver, ast.Call):
        return ast.unparse(receiver.func) in ("kube.shared", "self._kube")
    return False


def _constant(site: Site, node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name) and isinstance(getattr(site.module, node.id, None), str):
        value: str = getattr(site.module, node.id)
        return value
    return None


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, ast.Subscript | ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dynamic_kinds(site: Site, node: ast.expr) -> set[Kind]:
    """The kinds a variable can hold, from the call or parameter that binds it."""
    name = _root_name(node)
    function = site.function
    if name is None or function is None:
        raise AssertionError(f"{site.where(node)}: cannot tell the kind of {ast.unparse(node)}")
    sources: list[str] = []
    for inner in ast.walk(function):
        if isinstance(inner, ast.For) and isinstance(inner.target, ast.Name):
            if inner.target.id == name and isinstance(inner.iter, ast.Call):
                sources.append(ast.unparse(inner.iter.func))
        if isinstance(inner, ast.Assign) and isinstance(inner.value, ast.Call):
            if any(isinstance(t, ast.Name) and t.id == name for t in inner.targets):
                sources.append(ast.unparse(inner.value.func))
    if name in {arg.arg for arg in function.args.args + function.args.kwonlyargs}:
        sources.append(f"{function.name}.{name}")
    known = [DYNAMIC_SOURCES[source] for source in sources if source in DYNAMIC_SOURCES]
    if not known:
        raise AssertionError(
            f"{site.where(node)}: cannot tell the kind of {ast.unparse(node)} "
            f"(bound by {sources or 'nothing known'}); add its source to DYNAMIC_SOURCES"
        )
    return set().union(*(source() for source in known))


def _kinds_of(site: Site, api_version: ast.expr, kind: ast.expr) -> set[Kind]:
    version_value, kind_value = _constant(site, api_version), _constant(site, kind)
    if version_value is not None and kind_value is not None:
        return {(version_value, kind_value)}
    return _dynamic_kinds(site, kind)


def _dict_value(node: ast.Dict, key: str) -> ast.expr | None:
    for k, v in zip(node.keys, node.values, strict=True):
        if isinstance(k, ast.Constant) and k.value == key:
            return v
    return None


def _manifest_kinds(site: Site, node: ast.expr) -> set[Kind]:
    """The kinds of an applied object: a dict literal, a builder's result, or a variable."""
    if isinstance(node, ast.Dict):
        api_version, kind = _dict_value(node, "apiVersion"), _dict_value(node, "kind")
        assert api_version is not None and kind is not None, site.where(node)
        return _kinds_of(site, api_version, kind)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        builder = getattr(site.module, node.func.id)
        builder_module = sys.modules[builder.__module__]
        source = ast.parse(inspect.getsource(builder).strip())
        returned = [r.value for r in ast.walk(source) if isinstance(r, ast.Return) and r.value]
        assert returned, f"{site.where(node)}: {node.func.id} returns nothing"
        # A builder returns a manifest literal, or what other builders return.
        inner = Site(builder_module, Path(inspect.getfile(builder)), None)
        return set().union(*(_manifest_kinds(inner, r) for r in returned))
    return _dynamic_kinds(site, node)


def _path_kinds(site: Site, node: ast.expr) -> tuple[set[Kind], str]:
    """The kinds (and subresource) of a `resource_path(...)` argument."""
    subresource = ""
    if isinstance(node, ast.BinOp) and isinstance(node.right, ast.Constant):
        subresource = str(node.right.value).strip("/")
        node = node.left
    is_path = isinstance(node, ast.Call) and ast.unparse(node.func) == "resource_path"
    if not is_path:
        raise AssertionError(f"{site.where(node)}: patch_object needs resource_path(...)")
    assert isinstance(node, ast.Call)
    return _kinds_of(site, node.args[0], node.args[1]), subresource


def gateway_accesses() -> set[Access]:
    """Every access made through the gateway, read from its calls in the operator's source."""
    used: set[Access] = set()
    for module, path, tree in _modules():
        if module is kube:
            continue
        enclosing = _enclosing(tree)
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            method = node.func.attr
            if method not in GATEWAY or not _is_gateway(node.func.value):
                continue
            site = Site(module, path, enclosing.get(node))
            verbs, subresource, source = GATEWAY[method]
            if source == "args":
                kinds = _kinds_of(site, node.args[0], node.args[1])
            elif source == "manifest":
                kinds = _manifest_kinds(site, node.args[0])
            elif source == "path":
                kinds, subresource = _path_kinds(site, node.args[0])
            else:
                assert isinstance(source, tuple)
                kinds = {source}
            used |= _accesses(kinds, verbs, subresource)
    return used


def owner_accesses() -> set[Access]:
    """`update` on the finalizers of every kind named by an owner reference that blocks its
    owner's deletion (OwnerReferencesPermissionEnforcement asks for it)."""
    used: set[Access] = set()
    for module, path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict) and _dict_value(node, "blockOwnerDeletion") is not None:
                site = Site(module, path, None)
                api_version, kind = _dict_value(node, "apiVersion"), _dict_value(node, "kind")
                assert api_version is not None and kind is not None, site.where(node)
                used |= _accesses(_kinds_of(site, api_version, kind), ("update",), "finalizers")
    return used


def _resource(handler: Any) -> tuple[str, str]:
    """(apiGroup, plural) of a kopf handler's resource, as registered by the operator."""
    selector = handler.selector
    plural = selector.plural or selector.any_name
    assert plural and plural == plural.lower() and "." not in plural, selector
    return selector.group or "", str(plural)


def kopf_accesses(namespaces: list[str] | None) -> set[Access]:
    """What kopf itself does with the handlers registered by the operator."""
    from repairgpt_operator import handlers

    registry = kopf.get_default_registry()
    used: set[Access] = set()
    watching = [
        *registry._watching.get_all_handlers(),
        *registry._spawning.get_all_handlers(),
        *registry._indexing.get_all_handlers(),
    ]
    changing = list(registry._changing.get_all_handlers())
    for handler in watching + changing:
        used |= {(*_resource(handler), verb) for verb in ("list", "watch")}
    for handler in changing:
        # Handler progress and the last handled spec are kept in annotations (merge patches).
        used.add((*_resource(handler), "patch"))
    settings = runner.kopf_settings(namespaces)
    handlers.tune(settings)
    if not settings.scanning.disabled:
        used |= {
            ("apiextensions.k8s.io", "customresourcedefinitions", v) for v in ("list", "watch")
        }
        if namespaces is not None:
            used |= {("", "namespaces", verb) for verb in ("list", "watch")}
    if settings.posting.enabled:
        used.add(("", "events", "create"))
    return used


def check_every_call_is_seen() -> None:
    """The derivation above sees every request: the gateway is the only way to the API server,
    each of its methods is in GATEWAY, and every variable holding it has a name looked for."""
    methods = {
        name
        for name, value in vars(kube.Kube).items()
        if callable(value) and not name.startswith("_")
    }
    # get_raw reads non-resource paths (/metrics, /readyz): no code path may use it without a
    # nonResourceURLs rule, which neither installation has. served_kinds reads API discovery
    # (/apis/<group>/<version>), which every authenticated client may read (system:discovery).
    assert methods - {"get_raw", "served_kinds"} == set(GATEWAY)
    for module, path, tree in _modules():
        if module is kube:
            continue
        imported = {
            alias.name.split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            (node.module or "").split(".")[0]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom)
        }
        assert not imported & {"kubernetes", "urllib3", "requests", "httpx", "aiohttp"}, path
        assert not any(
            isinstance(node, ast.Attribute) and node.attr == "get_raw" for node in ast.walk(tree)
        ), path
        for function in _functions(tree):
            for arg in function.args.args + function.args.kwonlyargs:
                if arg.annotation is not None and ast.unparse(arg.annotation) == "Kube":
                    assert arg.arg in GATEWAY_NAMES, f"{path}:{function.lineno}"


# The leader Lease lives in the operator's own namespace; deploy/high-availability.yaml grants
# its access by a Role of its own there (tests/operator/test_leadership.py checks that Role).
OWN_NAMESPACE_GROUPS = frozenset({"coordination.k8s.io"})


def used_accesses(namespaces: list[str] | None) -> set[Access]:
    """What the operator uses in the namespaces it serves."""
    return {a for a in all_used_accesses(namespaces) if a[0] not in OWN_NAMESPACE_GROUPS}


def all_used_accesses(namespaces: list[str] | None) -> set[Access]:
    check_every_call_is_seen()
    return kopf_accesses(namespaces) | gateway_accesses() | owner_accesses()


def granted(rules: list[dict[str, Any]]) -> set[Access]:
    out: set[Access] = set()
    for rule in rules:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"], rule
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out |= {(group, resource, verb) for verb in rule["verbs"]}
    return out


def _assert_same(granted_accesses: set[Access], used: set[Access], role: str) -> None:
    unused = sorted(granted_accesses - used)
    missing = sorted(used - granted_accesses)
    assert not unused, f"{role} grants what no code path uses: {unused}"
    assert not missing, f"{role} lacks what the operator uses: {missing}"


def _kubectl() -> str:
    found = shutil.which("kubectl")
    if found:
        return found
    import devcluster

    return str(devcluster.ensure_binaries() / "kubectl")


def render_namespaced(folder: Path) -> list[dict[str, Any]]:
    """deploy/ with the deploy/namespaced component, as `kubectl apply -k` would apply it."""
    folder.mkdir(parents=True, exist_ok=True)
    kustomization = {
        "resources": [os.path.relpath(DEPLOY, folder)],
        "components": [os.path.relpath(DEPLOY / "namespaced", folder)],
    }
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    result = subprocess.run(
        [_kubectl(), "kustomize", str(folder)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def _is_serving(document: dict[str, Any], kind: str) -> bool:
    """A Role (or its binding) for a served namespace, not the leader election's."""
    return bool(document["kind"] == kind and document["metadata"]["name"] == "repairgpt-operator")


@pytest.fixture(scope="module")
def namespaced_bundle(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return render_namespaced(tmp_path_factory.mktemp("namespaced") / "install")


def test_cluster_role_grants_exactly_what_the_operator_uses() -> None:
    documents = [d for d in yaml.safe_load_all((DEPLOY / "rbac.yaml").read_text()) if d]
    (role,) = [d for d in documents if d["kind"] == "ClusterRole"]
    _assert_same(granted(role["rules"]), used_accesses(None), "the ClusterRole")


def test_namespaced_role_grants_exactly_what_the_operator_uses_in_a_namespace(
    namespaced_bundle: list[dict[str, Any]],
) -> None:
    roles = [d for d in namespaced_bundle if _is_serving(d, "Role")]
    assert roles
    for role in roles:
        _assert_same(granted(role["rules"]), used_accesses(["team-a"]), "the namespaced Role")


def test_namespaced_installation_has_no_cluster_wide_access(
    namespaced_bundle: list[dict[str, Any]],
) -> None:
    kinds = {d["kind"] for d in namespaced_bundle}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}
    assert {"CustomResourceDefinition", "Deployment", "ServiceAccount", "Role"} <= kinds
    # And the operator reads nothing cluster-scoped in this mode.
    cluster_scoped = {"namespaces", "customresourcedefinitions"}
    assert not {access for access in used_accesses(["team-a"]) if access[1] in cluster_scoped}


def test_namespaced_operator_watches_exactly_the_namespaces_it_has_roles_in(
    namespaced_bundle: list[dict[str, Any]],
) -> None:
    (deployment,) = [d for d in namespaced_bundle if d["kind"] == "Deployment"]
    (account,) = [d for d in namespaced_bundle if d["kind"] == "ServiceAccount"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    args = build_parser().parse_args(container["args"])
    watched = set(args.namespace or ())
    assert watched
    roles = {d["metadata"]["namespace"] for d in namespaced_bundle if _is_serving(d, "Role")}
    bindings = [d for d in namespaced_bundle if _is_serving(d, "RoleBinding")]
    assert roles == watched
    assert {b["metadata"]["namespace"] for b in bindings} == watched
    for binding in bindings:
        assert binding["roleRef"] == {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": "repairgpt-operator",
        }
        assert binding["subjects"] == [
            {
                "kind": "ServiceAccount",
                "name": account["metadata"]["name"],
                "namespace": account["metadata"]["namespace"],
            }
        ]
    assert (
        deployment["spec"]["template"]["spec"]["serviceAccountName"]
        == (account["metadata"]["name"])
    )


def test_watching_named_namespaces_turns_kopfs_cluster_scanning_off() -> None:
    assert runner.kopf_settings(["team-a"]).scanning.disabled is True
    assert runner.kopf_settings(None).scanning.disabled is False


def test_namespace_patterns_are_refused_since_matching_them_needs_cluster_access(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert build_parser().parse_args(["run", "--namespace", "team-a"]).namespace == ["team-a"]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--namespace", "team-*"])
    assert "not a namespace name" in capsys.readouterr().err
