"""The RepairGPTRestore CRD is generated from its models and describes a one-off restore."""

from __future__ import annotations

import pytest
import yaml

from repairgpt_operator.restore.spec import (
    RepairGPTRestoreSpec,
    build_restore_crd,
    render_restore_crd,
)
from tests.operator.factories import REPO_ROOT

CRD_PATH = REPO_ROOT / "crds" / "repairgptrestore.yaml"


def test_committed_restore_crd_matches_the_models() -> None:
    assert CRD_PATH.read_text() == render_restore_crd(), (
        "crds/repairgptrestore.yaml is stale: run "
        "python -m repairgpt_operator.restore.spec --output crds/repairgptrestore.yaml"
    )


def test_restore_defaults_to_the_latest_backup_under_maintenance_without_clean() -> None:
    spec = RepairGPTRestoreSpec.model_validate({"instanceName": "shop"})
    assert (spec.backup, spec.maintenance, spec.clean) == ("latest", True, False)
    assert spec.s3 is None and spec.target is None


def test_restore_without_an_instance_is_refused() -> None:
    with pytest.raises(ValueError, match="instanceName"):
        RepairGPTRestoreSpec.model_validate({"backup": "latest"})


def test_restore_spec_is_immutable_and_has_a_status_subresource() -> None:
    crd = yaml.safe_load(CRD_PATH.read_text())
    version = crd["spec"]["versions"][0]
    spec_schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
    assert {"rule": "self == oldSelf"}.items() <= spec_schema["x-kubernetes-validations"][0].items()
    assert version["subresources"] == {"status": {}}
    assert crd == build_restore_crd()


def test_the_restore_example_is_a_valid_restore() -> None:
    [restore] = [
        d
        for d in yaml.safe_load_all((REPO_ROOT / "examples" / "restore.yaml").read_text())
        if d["kind"] == "RepairGPTRestore"
    ]
    spec = RepairGPTRestoreSpec.model_validate(restore["spec"])
    assert (spec.instance_name, spec.backup, spec.clean, spec.maintenance) == (
        "repairgpt",
        "latest",
        True,
        True,
    )


def test_a_restore_into_the_live_database_without_maintenance_is_refused() -> None:
    with pytest.raises(ValueError, match="maintenance: false needs spec.target"):
        RepairGPTRestoreSpec.model_validate({"instanceName": "shop", "maintenance": False})
    other = {"secretName": "scratch-db", "key": "database-url"}
    spec = RepairGPTRestoreSpec.model_validate(
        {"instanceName": "shop", "maintenance": False, "target": other}
    )
    assert spec.target is not None and not spec.maintenance


@pytest.mark.parametrize("backup", ["--target-url=postgresql://evil", "-x", "two words"])
def test_an_option_like_backup_key_is_refused(backup: str) -> None:
    with pytest.raises(ValueError, match="backup"):
        RepairGPTRestoreSpec.model_validate({"instanceName": "shop", "backup": backup})
