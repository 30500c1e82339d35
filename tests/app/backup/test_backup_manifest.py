"""The manifest beside each dump: what it records, and which manifests are refused."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from repairgpt.backup.layout import (
    dump_key,
    manifest_key,
    normalize_prefix,
    parse_key,
)
from repairgpt.backup.manifest import (
    ManifestError,
    build_manifest,
    manifest_matches_object,
    manifest_to_json,
    parse_manifest,
)

T0 = datetime(2026, 11, 28, 20, 15, 0, 123456, tzinfo=UTC)
SHA = "a" * 64


def a_manifest(**changes: object) -> bytes:
    manifest = build_manifest(
        key="database/repairgpt-20261128T201500.123Z.sql.gz",
        created_at=T0,
        completed_at=T0 + timedelta(seconds=42),
        size_bytes=1234,
        sha256=SHA,
        database="repairgpt",
        server_version="15.18",
        pg_dump_version="15.18",
        tables={"public.guides": 10, "public.steps": 70},
    )
    raw = json.loads(manifest_to_json(manifest))
    raw.update(changes)
    return json.dumps(raw).encode()


def test_a_manifest_survives_its_json_form_unchanged() -> None:
    manifest = parse_manifest(a_manifest())
    assert manifest.key == "database/repairgpt-20261128T201500.123Z.sql.gz"
    assert manifest.created_at == T0
    assert manifest.size_bytes == 1234
    assert manifest.sha256 == SHA
    assert dict(manifest.tables) == {"public.guides": 10, "public.steps": 70}
    assert manifest.total_rows == 80
    assert manifest.duration_seconds == 42
    assert parse_manifest(manifest_to_json(manifest)) == manifest


def test_the_manifest_json_names_versions_and_row_counts_for_people_reading_it() -> None:
    raw = json.loads(a_manifest())
    assert raw["format"] == "repairgpt-backup/v1"
    assert raw["server_version"] == "15.18" and raw["pg_dump_version"] == "15.18"
    assert raw["total_rows"] == 80
    assert raw["created_at"] == "2026-11-28T20:15:00.123456+00:00"


@pytest.mark.parametrize(
    ("data", "complaint"),
    [
        (b"not json", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (a_manifest(sha256="abc"), "sha256"),
        (a_manifest(sha256="A" * 64), "sha256"),
        (a_manifest(size_bytes=0), "size must be positive"),
        (a_manifest(size_bytes="12"), "malformed"),
        (a_manifest(tables={"public.t": -1}), "row count of public.t"),
        (a_manifest(tables={"public.t": True}), "row count of public.t"),
        (a_manifest(format="other/v9"), "unknown manifest format"),
        (a_manifest(created_at="2026-11-28T20:15:00"), "time zone"),
        (a_manifest(completed_at="2026-11-27T20:15:00+00:00"), "completed before"),
        (a_manifest(dump_format="custom"), "unsupported dump"),
    ],
)
def test_a_manifest_that_cannot_be_trusted_is_refused_with_a_reason(
    data: bytes, complaint: str
) -> None:
    with pytest.raises(ManifestError, match=complaint):
        parse_manifest(data)


def test_a_manifest_missing_a_field_names_the_field() -> None:
    raw = json.loads(a_manifest())
    del raw["sha256"]
    with pytest.raises(ManifestError, match="'sha256'"):
        parse_manifest(json.dumps(raw).encode())


def test_building_an_unsound_manifest_fails_at_once() -> None:
    with pytest.raises(ManifestError, match="size"):
        build_manifest(
            key="k.sql.gz",
            created_at=T0,
            completed_at=T0,
            size_bytes=-1,
            sha256=SHA,
            database="d",
            server_version="15",
            pg_dump_version="15",
            tables={},
        )


def test_a_manifest_describes_only_the_dump_of_its_own_key_and_size() -> None:
    manifest = parse_manifest(a_manifest())
    assert manifest_matches_object(manifest, key=manifest.key, size_bytes=1234) == []
    assert manifest_matches_object(manifest, key=manifest.key, size_bytes=1000) == [
        "dump is 1000 bytes but the manifest says 1234 bytes"
    ]
    other = replace(manifest, key="database/other.sql.gz")
    assert manifest_matches_object(other, key=manifest.key, size_bytes=1234)


def test_backup_keys_sort_by_time_and_sit_beside_their_manifest() -> None:
    first = dump_key("database", T0)
    second = dump_key("database/", T0 + timedelta(milliseconds=1))
    assert first == "database/repairgpt-20261128T201500.123Z.sql.gz"
    assert first < second
    assert manifest_key(first) == "database/repairgpt-20261128T201500.123Z.manifest.json"


def test_keys_are_parsed_back_to_their_time_and_foreign_objects_are_ignored() -> None:
    parsed = parse_key("database/repairgpt-20261128T201500.123Z.manifest.json", "database/")
    assert parsed is not None
    assert parsed.kind == "manifest"
    assert parsed.dump_key == "database/repairgpt-20261128T201500.123Z.sql.gz"
    assert parsed.taken_at == T0.replace(microsecond=123000)
    assert parse_key("database/notes.txt", "database/") is None
    assert parse_key("database/sub/repairgpt-20261128T201500.123Z.sql.gz", "database/") is None
    assert parse_key("other/repairgpt-20261128T201500.123Z.sql.gz", "database/") is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [("", ""), (None, ""), ("database", "database/"), ("/database/", "database/")],
)
def test_a_prefix_always_means_a_folder(given: str | None, expected: str) -> None:
    assert normalize_prefix(given) == expected
