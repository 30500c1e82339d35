"""The README's alerts table lists exactly the alerts the rules define, with their defaults."""

from __future__ import annotations

import re
from typing import Any

import yaml

from repairgpt_operator.monitoring.rules import rule_groups
from tests.operator.factories import REPO_ROOT, make_instance

README = REPO_ROOT / "README.md"
OPERATOR_RULES = REPO_ROOT / "deploy" / "monitoring" / "prometheusrule.yaml"
# Backups (and their verification) on, every threshold at its default.
BACKUPS_ON = {
    "monitoring": {"enabled": True},
    "backup": {"enabled": True, "s3": {"bucket": "backups"}, "verify": {"enabled": True}},
}
COLUMNS = ["Alert", "Expression (defaults)", "Threshold", "For", "Severity", "What to do"]
# Matchers that only scope a series to one instance; the table leaves them out.
_SCOPE = re.compile(r'(?<=[{,])((namespace|name)="[^"]*"|job="[^"]*-api"),?')
_TRAILING = re.compile(r"(>=|<=|==|!=|>|<)\s*([0-9.]+)$")


def defined_alerts() -> dict[str, dict[str, Any]]:
    """Every alert: an instance's (backups on) and the operator's own."""
    groups = rule_groups(make_instance(BACKUPS_ON))
    groups += yaml.safe_load(OPERATOR_RULES.read_text())["spec"]["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


def short_expr(expr: str) -> str:
    """The expression without the instance's matchers, on one line."""
    short = _SCOPE.sub("", " ".join(expr.split()))
    return short.replace(",}", "}").replace("{}", "")


def threshold(expr: str) -> str:
    """The trailing comparison (`> 0.1`), or an em dash when the expression has none."""
    match = _TRAILING.search(" ".join(expr.split()))
    return f"{match[1]} {match[2]}" if match else "—"


def _cells(line: str) -> list[str]:
    # Split on pipes that the table does not escape (`\|` inside PromQL).
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)[1:-1]]


def readme_table() -> dict[str, dict[str, str]]:
    """The rows of the table whose header is COLUMNS, keyed by alert name."""
    lines = README.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if _cells(line) == COLUMNS)
    rows: dict[str, dict[str, str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        row = dict(zip(COLUMNS, _cells(line), strict=True))
        rows[row["Alert"].strip("`")] = row
    return rows


def _code(cell: str) -> str:
    match = re.search(r"`([^`]+)`", cell)
    return match[1] if match else cell


def test_the_table_lists_every_alert_and_no_other() -> None:
    assert set(readme_table()) == set(defined_alerts())


def test_each_row_shows_the_default_expression_threshold_for_and_severity() -> None:
    table = readme_table()
    for name, rule in defined_alerts().items():
        row = table[name]
        assert _code(row["Expression (defaults)"]) == short_expr(rule["expr"]), name
        assert _code(row["Threshold"]) == threshold(rule["expr"]), name
        assert row["For"] == f"`{rule['for']}`", name
        assert row["Severity"] == rule["labels"]["severity"], name


def test_each_row_links_to_its_runbook_subsection() -> None:
    headings = {
        line.lstrip("#").strip().lower()
        for line in README.read_text().splitlines()
        if line.startswith("### ")
    }
    for name, row in readme_table().items():
        assert f"(#{name.lower()})" in row["What to do"], name
        assert name.lower() in headings, name


def test_short_expressions_drop_only_the_instance_matchers() -> None:
    expr = 'sum(rate(x{namespace="a",job="b-api",status=~"5.."}[5m])) > 0.1'
    assert short_expr(expr) == 'sum(rate(x{status=~"5.."}[5m])) > 0.1'
    assert short_expr('up{job="repairgpt-operator"} == 1') == 'up{job="repairgpt-operator"} == 1'
    assert threshold(expr) == "> 0.1" and threshold("time() > deadline{}") == "—"
