"""The alerting rules of an instance: complete, configurable, scoped, on metrics that exist."""

from __future__ import annotations

from typing import Any

import pytest

from repairgpt_operator.monitoring.rules import duration_seconds, rule_groups
from tests.operator.factories import REPO_ROOT, make_instance
from tests.operator.monitoring.metric_names import (
    SYNTHETIC,
    app_series,
    operator_series,
    selected,
)

EVERYTHING_ON = {
    "monitoring": {"enabled": True},
    "backup": {"enabled": True, "s3": {"bucket": "backups"}, "verify": {"enabled": True}},
}


def _rules(spec: dict[str, Any] | None = None, **kwargs: Any) -> dict[str, dict[str, Any]]:
    groups = rule_groups(make_instance(spec or EVERYTHING_ON, **kwargs))
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def test_the_guides_alerts_and_the_operators_own_are_all_there() -> None:
    assert set(_rules()) == {
        "HighErrorRate",
        "HighResponseTime",
        "DatabaseConnectionFailure",
        "RepairGPTBackupFailed",
        "RepairGPTBackupTooOld",
        "RepairGPTBackupVerificationFailed",
        "RepairGPTFailedOver",
        "RepairGPTInstanceDegraded",
        "RepairGPTMaintenanceTooLong",
    }


def test_backup_alerts_exist_only_while_backups_are_on() -> None:
    names = set(_rules({"monitoring": {"enabled": True}}))
    assert not {n for n in names if "Backup" in n}


def test_every_alert_has_severity_summary_description_and_a_runbook() -> None:
    for name, rule in _rules().items():
        assert rule["labels"]["severity"] in ("warning", "critical"), name
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], name
        assert annotations["runbook_url"].startswith(
            "https://github.com/repairgpt/repairgpt-operator/blob/main/README.md#"
        ), name
        assert annotations["runbook_url"].endswith("#" + name.lower())


def test_every_runbook_anchor_exists_in_the_readme() -> None:
    headings = {
        line.lstrip("#").strip().lower()
        for line in (REPO_ROOT / "README.md").read_text().splitlines()
        if line.startswith("#")
    }
    for rule in _rules().values():
        assert rule["annotations"]["runbook_url"].rpartition("#")[2] in headings


def test_the_guides_thresholds_are_the_defaults() -> None:
    rules = _rules()
    errors = rules["HighErrorRate"]
    assert errors["expr"].endswith("> 0.1") and errors["for"] == "5m"
    assert 'status=~"5.."' in errors["expr"]
    latency = rules["HighResponseTime"]
    assert latency["expr"].startswith("histogram_quantile(0.95,")
    assert latency["expr"].endswith("> 2") and latency["for"] == "5m"
    assert rules["DatabaseConnectionFailure"]["for"] == "2m"
    assert rules["RepairGPTMaintenanceTooLong"]["expr"].endswith("> 7200")


def test_thresholds_and_durations_follow_the_spec() -> None:
    spec = {
        "monitoring": {
            "enabled": True,
            "alerts": {
                "highErrorRate": {"threshold": 0.5, "for": "10m"},
                "highResponseTime": {"threshold": 0.75, "for": "1m"},
                "databaseDownFor": "30s",
                "maintenanceMaxDuration": "1h30m",
                "degradedFor": "3m",
            },
        }
    }
    rules = _rules(spec)
    assert rules["HighErrorRate"]["expr"].endswith("> 0.5")
    assert rules["HighErrorRate"]["for"] == "10m"
    assert rules["HighResponseTime"]["expr"].endswith("> 0.75")
    assert rules["HighResponseTime"]["for"] == "1m"
    assert rules["DatabaseConnectionFailure"]["for"] == "30s"
    assert rules["RepairGPTMaintenanceTooLong"]["expr"].endswith("> 5400")
    assert rules["RepairGPTInstanceDegraded"]["for"] == "3m"


def test_every_selector_is_scoped_to_the_instance() -> None:
    rules = _rules(EVERYTHING_ON, name="shop", namespace="team-a")
    for rule in rules.values():
        found = selected([rule["expr"]])
        assert found, rule["alert"]
        for _, matchers in found:
            assert 'namespace="team-a"' in matchers, rule["alert"]
            assert 'job="shop-api"' in matchers or 'name="shop"' in matchers, rule["alert"]
        assert rule["labels"]["namespace"] == "team-a"
        assert rule["labels"]["repairgpt_instance"] == "shop"


def test_two_instances_share_no_selector_and_no_group_name() -> None:
    first = rule_groups(make_instance(EVERYTHING_ON, name="shop", namespace="a"))
    second = rule_groups(make_instance(EVERYTHING_ON, name="shop", namespace="b"))
    assert {g["name"] for g in first}.isdisjoint({g["name"] for g in second})
    exprs = [{r["expr"] for g in groups for r in g["rules"]} for groups in (first, second)]
    assert exprs[0].isdisjoint(exprs[1])


def test_every_metric_in_the_rules_is_registered_by_the_app_or_the_operator() -> None:
    known = app_series() | operator_series() | SYNTHETIC
    used = {name for rule in _rules().values() for name, _ in selected([rule["expr"]])}
    assert used, "no metric found in the rules"
    assert used <= known, used - known


def test_prometheus_durations_convert_to_seconds() -> None:
    assert duration_seconds("2h") == 7200
    assert duration_seconds("1h30m") == 5400
    assert duration_seconds("500ms") == 0.5
    with pytest.raises(ValueError):
        duration_seconds("5 minutes")
