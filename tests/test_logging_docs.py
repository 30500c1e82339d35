"""docs/LOGGING.md names the fields the API and the operator really write, and the Fluent Bit
example in examples/fluent-bit/ reads exactly those."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import kopf
import pytest
from fastapi.testclient import TestClient

from repairgpt.core.config import Settings
from repairgpt.core.logging import JsonFormatter
from repairgpt.main import create_app
from tests.app.conftest import SAMPLE_GUIDES

REPO_ROOT = Path(__file__).resolve().parents[1]
DOC = REPO_ROOT / "docs" / "LOGGING.md"
FLUENT_BIT = REPO_ROOT / "examples" / "fluent-bit"
ROW = re.compile(r"^\|\s*`([a-z_]+)`\s*\|")


def documented(section: str) -> set[str]:
    """The field names in the table under `## <section>` of docs/LOGGING.md."""
    text = DOC.read_text(encoding="utf-8")
    body = text.split(f"\n## {section}\n", 1)[1].split("\n## ", 1)[0]
    return {m.group(1) for line in body.splitlines() if (m := ROW.match(line))}


def conf_sections(path: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """Fluent Bit's classic format: [SECTION] headers, then `Key value` lines."""
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            sections.append((line[1:-1], []))
            continue
        assert sections and raw.startswith(" "), f"{path.name}: {raw!r} outside a section"
        key, _, value = line.partition(" ")
        sections[-1][1].append((key.lower(), value.strip()))
    return sections


def _capture(logger_name: str) -> tuple[logging.Handler, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(logger_name)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    return handler, stream


@pytest.fixture
def api_lines(tmp_path: Path) -> Iterator[list[dict[str, Any]]]:
    """The JSON lines of an access line and of an error, as the API writes them."""
    handler, stream = _capture("repairgpt")
    settings = Settings(
        data_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'repairgpt.db'}",
        seed_guides_file=SAMPLE_GUIDES,
        rate_limit_requests=0,
        catalog_refresh_seconds=0,
    )
    try:
        app = create_app(settings, configure_logs=False)
        with TestClient(app) as client:
            assert client.get("/api/v1/guides", params={"q": "battery"}).status_code == 200
        try:
            raise RuntimeError("example")
        except RuntimeError:
            logging.getLogger("repairgpt").exception("an error", extra={"error": "RuntimeError"})
        yield [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logging.getLogger("repairgpt").removeHandler(handler)
        logging.getLogger("repairgpt").setLevel(logging.NOTSET)


@pytest.fixture
def operator_lines() -> Iterator[list[dict[str, Any]]]:
    """Lines through the formatter the operator configures (kopf's JSON format)."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        kopf.configure(log_format=kopf.LogFormat.JSON)
        for handler in root.handlers:
            if type(handler).__module__.startswith("kopf"):
                handler.setStream(stream)  # type: ignore[attr-defined]
        ref = {"apiVersion": "repairgpt.io/v1alpha1", "kind": "RepairGPTInstance",
               "name": "shop", "namespace": "repair", "uid": "u-1"}  # fmt: skip
        log = logging.getLogger("repairgpt_operator")
        log.warning("reconciled", extra={"k8s_ref": ref})
        try:
            raise RuntimeError("example")
        except RuntimeError:
            log.exception("failed")
        yield [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        root.handlers[:], root.level = saved[0], saved[1]


def test_the_api_writes_the_documented_fields(api_lines: list[dict[str, Any]]) -> None:
    fields = documented("API")
    access = next(r for r in api_lines if r["logger"] == "repairgpt.access")
    error = next(r for r in api_lines if r["message"] == "an error")
    assert set(access) >= {"ts", "level", "logger", "message", "request_id", "endpoint"}
    assert set(access) <= fields, set(access) - fields
    assert set(error) <= fields and "exc_info" in error, set(error) - fields


def test_the_operator_writes_the_documented_fields(
    operator_lines: list[dict[str, Any]],
) -> None:
    fields = documented("Operator")
    about, error = operator_lines
    assert set(about) == {"timestamp", "severity", "message", "object"}
    assert set(about) <= fields and set(error) <= fields, (about, error)
    assert about["object"]["kind"] == "RepairGPTInstance"


def test_the_operator_runs_with_kopfs_json_format() -> None:
    runner = (REPO_ROOT / "operator" / "repairgpt_operator" / "runner.py").read_text()
    assert "log_format=kopf.LogFormat.JSON" in runner


def _parsers() -> dict[str, dict[str, str]]:
    return {
        dict(body)["name"]: dict(body)
        for name, body in conf_sections(FLUENT_BIT / "parsers.conf")
        if name == "PARSER"
    }


def test_the_fluent_bit_parsers_read_the_documented_time_fields(
    api_lines: list[dict[str, Any]], operator_lines: list[dict[str, Any]]
) -> None:
    parsers = _parsers()
    samples = {"repairgpt-api": api_lines[0], "repairgpt-operator": operator_lines[0]}
    sections = {"repairgpt-api": "API", "repairgpt-operator": "Operator"}
    for name, parser in parsers.items():
        assert parser["format"] == "json"
        time_key = parser["time_key"]
        assert time_key in documented(sections[name]), (name, time_key)
        # Fluent Bit's %L is the fraction of a second, of any length.
        python_format = parser["time_format"].replace("%L", "%f")
        parsed = datetime.strptime(samples[name][time_key], python_format)
        offset = parsed.utcoffset()
        assert offset is not None and offset.total_seconds() == 0
    assert set(parsers) == set(samples)


def test_the_fluent_bit_pipeline_names_only_documented_fields() -> None:
    sections = conf_sections(FLUENT_BIT / "fluent-bit.conf")
    service = dict(next(body for name, body in sections if name == "SERVICE"))
    assert (FLUENT_BIT / service["parsers_file"]).is_file()
    api, operator = documented("API"), documented("Operator")
    filters = [(dict(body), body) for name, body in sections if name == "FILTER"]
    parsed = {f["match"]: f["parser"] for f, _ in filters if f["name"] == "parser"}
    assert parsed == {
        "repairgpt.api.*": "repairgpt-api",
        "repairgpt.operator.*": "repairgpt-operator",
    }
    levels: set[str] = set()
    for settings, body in filters:
        if settings["name"] != "modify" or "operator" not in settings["match"]:
            continue
        for key, value in body:
            words = value.split()
            if key == "rename":
                assert words[0] in operator and words[1] in api, value
            if key == "condition":
                assert words[1] in operator, value
                levels.add(words[2])
            if key == "remove":
                assert words[0] in operator, value
            if key == "add" and words[0] == "level":
                assert words[1] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), value
    # Every severity kopf writes is mapped.
    assert levels == {"debug", "info", "warning", "error", "critical"}
