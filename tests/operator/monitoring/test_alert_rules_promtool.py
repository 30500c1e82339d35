"""The alerting rules of an instance, checked and unit-tested by promtool: every alert has a
case where it fires and one where it stays silent, on series shaped like the real ones."""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from repairgpt_operator.monitoring.rules import duration_seconds, rule_groups
from tests.operator.factories import make_instance
from tests.utils.prometheus import promtool

INSTANCE = make_instance(
    {
        "monitoring": {"enabled": True},
        "backup": {"enabled": True, "s3": {"bucket": "backups"}, "verify": {"enabled": True}},
    },
    name="shop",
    namespace="repair",
)
RULES = {rule["alert"]: rule for group in rule_groups(INSTANCE) for rule in group["rules"]}
# Long after every `for` and every time window of the rules, so that silence is never mere
# pending; at least 4 h, so that the timestamps below stay positive.
EVAL_MINUTES = max(240, *(int(duration_seconds(r["for"]) // 60) + 15 for r in RULES.values()))
EVAL_SECONDS = EVAL_MINUTES * 60
SAMPLES = EVAL_MINUTES + 5

API_POD = {"namespace": "repair", "job": "shop-api", "instance": "10.0.0.1:8000"}
API_POD_2 = {**API_POD, "instance": "10.0.0.2:8000"}
# Another instance in the same namespace: its trouble must not page for this one.
OTHER_API = {"namespace": "repair", "job": "other-api", "instance": "10.0.0.3:8000"}
OPERATOR = {"namespace": "repair", "name": "shop", "job": "operator", "instance": "10.0.0.9:8080"}
OTHER_OPERATOR = {**OPERATOR, "name": "other"}


def series(metric: str, labels: dict[str, str], values: str) -> dict[str, str]:
    text = ",".join(f'{key}="{value}"' for key, value in labels.items())
    return {"series": f"{metric}{{{text}}}", "values": values}


def steady(value: float) -> str:
    return f"{value:g}x{SAMPLES}"


def per_minute(count: float) -> str:
    """A counter growing by `count` every minute."""
    return f"0+{count:g}x{SAMPLES}"


@dataclass
class Case:
    """Input series, and whether the alert fires at EVAL_MINUTES: then with `value` and the
    labels its expression gives (`result`)."""

    alert: str
    fires: bool
    input_series: list[dict[str, str]]
    value: float = 0.0
    result: dict[str, str] = field(default_factory=dict)


def error_rate_cases() -> list[Case]:
    threshold = float(RULES["HighErrorRate"]["expr"].rpartition(">")[2])
    errors = {**API_POD, "method": "GET", "endpoint": "/api/v1/guides", "status": "503"}
    ok = {**errors, "status": "200"}
    busy = series("http_requests_total", ok, per_minute(6000))
    return [
        Case("HighErrorRate", True, [busy, series("http_requests_total", errors, per_minute(60))],
             value=1.0),
        Case("HighErrorRate", False, [
            busy,
            series("http_requests_total", errors, per_minute(threshold * 60 / 2)),
            series("http_requests_total", {**OTHER_API, "status": "500"}, per_minute(600)),
        ]),
    ]  # fmt: skip


def _buckets(labels: dict[str, str], slow: bool) -> list[dict[str, str]]:
    """One request per second: all slower than 2.5 s, or all faster than 100 ms."""
    bounds = ("0.1", "0.5", "1.0", "2.5", "5.0", "+Inf")
    return [
        series(
            "http_request_duration_seconds_bucket",
            {**labels, "method": "GET", "endpoint": "/api/v1/guides", "le": le},
            per_minute(60 if not slow or float(le) > 2.5 else 0),
        )
        for le in bounds
    ]


def response_time_cases() -> list[Case]:
    # All in the bucket (2.5, 5]: the 95th percentile interpolates to 2.5 + 0.95 * 2.5.
    return [
        Case("HighResponseTime", True, _buckets(API_POD, slow=True), value=2.5 + 0.95 * 2.5),
        Case("HighResponseTime", False, _buckets(API_POD, False) + _buckets(OTHER_API, True)),
    ]


def database_cases() -> list[Case]:
    up = "repairgpt_database_up"
    return [
        Case("DatabaseConnectionFailure", True,
             [series(up, API_POD, steady(0)), series(up, API_POD_2, steady(0))]),
        # One pod still reaches the database: a pod's own trouble, not the database's.
        Case("DatabaseConnectionFailure", False, [
            series(up, API_POD, steady(0)),
            series(up, API_POD_2, steady(1)),
            series(up, OTHER_API, steady(0)),
        ]),
    ]  # fmt: skip


def flag_cases(alert: str, metric: str, extra: dict[str, str] | None = None) -> list[Case]:
    """A 0/1 gauge of the operator about the instance: 1 fires, 0 (or another's 1) does not."""
    labels = {**OPERATOR, **(extra or {})}
    others = {**OTHER_OPERATOR, **(extra or {})}
    return [
        Case(alert, True, [series(metric, labels, steady(1))], value=1, result=labels),
        Case(alert, False, [series(metric, labels, steady(0)), series(metric, others, steady(1))]),
    ]


def maintenance_cases() -> list[Case]:
    metric = "repairgpt_instance_maintenance_since_timestamp_seconds"
    longest = float(RULES["RepairGPTMaintenanceTooLong"]["expr"].rpartition(">")[2])
    long_ago, lately = EVAL_SECONDS - longest - 3600, EVAL_SECONDS - longest / 2
    return [
        Case("RepairGPTMaintenanceTooLong", True, [series(metric, OPERATOR, steady(long_ago))],
             value=EVAL_SECONDS - long_ago, result=OPERATOR),
        Case("RepairGPTMaintenanceTooLong", False, [
            series(metric, OPERATOR, steady(lately)),
            series(metric, OTHER_OPERATOR, steady(long_ago)),
        ]),
    ]  # fmt: skip


def backup_age_cases() -> list[Case]:
    metric = "repairgpt_instance_backup_rpo_deadline_timestamp_seconds"
    passed, ahead = EVAL_SECONDS - 600, EVAL_SECONDS + 3600
    return [
        Case("RepairGPTBackupTooOld", True, [series(metric, OPERATOR, steady(passed))],
             value=passed, result=OPERATOR),
        Case("RepairGPTBackupTooOld", False, [
            series(metric, OPERATOR, steady(ahead)),
            series(metric, OTHER_OPERATOR, steady(passed)),
        ]),
    ]  # fmt: skip


CASES: list[Case] = [
    *error_rate_cases(),
    *response_time_cases(),
    *database_cases(),
    *flag_cases("RepairGPTInstanceDegraded", "repairgpt_instance_phase", {"phase": "Degraded"}),
    *flag_cases("RepairGPTFailedOver", "repairgpt_instance_failed_over"),
    *flag_cases("RepairGPTBackupFailed", "repairgpt_instance_backup_last_failed"),
    *flag_cases(
        "RepairGPTBackupVerificationFailed", "repairgpt_instance_backup_verification_failed"
    ),
    *maintenance_cases(),
    *backup_age_cases(),
]


# What Prometheus' template functions print, for the annotations promtool compares.
def _scaled_down(v: float, unit: str) -> str:
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix, v = p, v * 1000
    return f"{v:.4g}{prefix}{unit}"


def humanize(v: float) -> str:
    if v == 0 or math.isnan(v) or math.isinf(v):
        return f"{v:.4g}"
    if abs(v) < 1:
        return _scaled_down(v, "")
    prefix = ""
    for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
        if abs(v) < 1000:
            break
        prefix, v = p, v / 1000
    return f"{v:.4g}{prefix}"


def humanize_duration(v: float) -> str:
    if v == 0:
        return "0s"
    if abs(v) < 1:
        return _scaled_down(v, "s")
    sign, whole = ("-" if v < 0 else ""), int(abs(v))
    days, hours = whole // 86400, whole // 3600 % 24
    minutes, seconds = whole // 60 % 60, whole % 60
    if days:
        return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
    if hours:
        return f"{sign}{hours}h {minutes}m {seconds}s"
    if minutes:
        return f"{sign}{minutes}m {seconds}s"
    return f"{sign}{abs(v):.4g}s"


def humanize_timestamp(v: float) -> str:
    moment = datetime.datetime.fromtimestamp(v, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + " +0000 UTC"


TEMPLATE_FUNCTIONS: dict[str, Callable[[float], str]] = {
    "humanize": humanize,
    "humanizeDuration": humanize_duration,
    "humanizeTimestamp": humanize_timestamp,
}
TEMPLATE = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def render(text: str, labels: dict[str, str], value: float) -> str:
    """The template subset the rules use: $labels.x and $value piped to a humanize function."""

    def expand(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression.startswith("$labels."):
            return labels[expression.removeprefix("$labels.")]
        source, _, function = (part.strip() for part in expression.partition("|"))
        if source == "$value" and function in TEMPLATE_FUNCTIONS:
            return TEMPLATE_FUNCTIONS[function](value)
        raise AssertionError(f"template {expression!r}: teach this test to render it")

    return TEMPLATE.sub(expand, text)


def unit_test(case: Case) -> dict[str, Any]:
    rule = RULES[case.alert]
    expected = []
    if case.fires:
        labels = {**case.result, **rule["labels"]}
        annotations = {k: render(v, labels, case.value) for k, v in rule["annotations"].items()}
        expected.append({"exp_labels": labels, "exp_annotations": annotations})
    return {
        "name": f"{case.alert} {'fires' if case.fires else 'stays silent'}",
        "interval": "1m",
        "input_series": case.input_series,
        "alert_rule_test": [
            {"eval_time": f"{EVAL_MINUTES}m", "alertname": case.alert, "exp_alerts": expected}
        ],
    }


@pytest.fixture(scope="module")
def rule_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("rules") / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": rule_groups(INSTANCE)}, sort_keys=False))
    return path


def test_promtool_accepts_the_rule_file(rule_file: Path) -> None:
    checked = promtool("check", "rules", str(rule_file))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(RULES)} rules found" in checked.stdout + checked.stderr


def test_every_alert_has_a_case_that_fires_and_one_that_stays_silent() -> None:
    assert {c.alert for c in CASES if c.fires} == set(RULES), "alerts without a firing case"
    assert {c.alert for c in CASES if not c.fires} == set(RULES), "alerts without a silent case"


def test_each_alert_fires_and_stays_silent_as_its_cases_say(rule_file: Path) -> None:
    tests = {
        "rule_files": [rule_file.name],
        "evaluation_interval": "1m",
        "tests": [unit_test(case) for case in CASES],
    }
    test_file = rule_file.parent / "rules_test.yml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", str(test_file), cwd=rule_file.parent)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def test_a_case_with_the_wrong_expectation_fails_in_promtool(rule_file: Path) -> None:
    # The harness itself can fail: a firing case expected silent is reported.
    wrong = next(c for c in CASES if c.fires and c.alert == "HighErrorRate")
    inverted = unit_test(Case(wrong.alert, False, wrong.input_series))
    tests = {"rule_files": [rule_file.name], "evaluation_interval": "1m", "tests": [inverted]}
    test_file = rule_file.parent / "wrong_test.yml"
    test_file.write_text(yaml.safe_dump(tests, sort_keys=False))
    result = promtool("test", "rules", str(test_file), cwd=rule_file.parent)
    assert result.returncode != 0
    assert "HighErrorRate" in result.stdout + result.stderr


def test_the_template_functions_print_as_prometheus_does() -> None:
    assert humanize(1) == "1" and humanize(1234) == "1.234k" and humanize(0.05) == "50m"
    assert humanize_duration(10800) == "3h 0m 0s" and humanize_duration(4.875) == "4.875s"
    assert humanize_duration(90061) == "1d 1h 1m 1s" and humanize_duration(0.25) == "250ms"
    assert humanize_timestamp(3600) == "1970-01-01 01:00:00 +0000 UTC"
