"""The child verdicts: a resync may skip a child only while its latest watched version is the one
found in line with the very manifest wanted now."""

from __future__ import annotations

from typing import Any

from repairgpt_operator.instance.verdicts import ChildVerdicts
from repairgpt_operator.ownership import APPLIED_HASH_ANNOTATION


def _manifest(digest: str) -> dict[str, Any]:
    return {
        "kind": "Service",
        "metadata": {
            "namespace": "ns",
            "name": "demo-api",
            "annotations": {APPLIED_HASH_ANNOTATION: digest},
        },
    }


def _live(version: str, digest: str = "d1") -> dict[str, Any]:
    live = _manifest(digest)
    live["metadata"]["resourceVersion"] = version
    return live


def test_a_version_found_in_line_is_in_sync_for_the_same_manifest_only() -> None:
    verdicts = ChildVerdicts()
    assert not verdicts.in_sync(_manifest("d1"))
    verdicts.observe(_live("10"))
    assert not verdicts.in_sync(_manifest("d1"))  # seen, not checked
    verdicts.verified(_live("10"), _manifest("d1"))
    assert verdicts.in_sync(_manifest("d1"))
    assert not verdicts.in_sync(_manifest("d2"))  # the spec changed since


def test_a_newer_version_from_the_watch_must_be_checked_again() -> None:
    verdicts = ChildVerdicts()
    verdicts.verified(_live("10"), _manifest("d1"))
    verdicts.observe(_live("10"))  # the same version: still in line
    assert verdicts.in_sync(_manifest("d1"))
    verdicts.observe(_live("11"))  # someone (or a controller) changed it
    assert not verdicts.in_sync(_manifest("d1"))


def test_an_older_watch_event_does_not_undo_what_an_apply_returned() -> None:
    verdicts = ChildVerdicts()
    verdicts.verified(_live("12"), _manifest("d1"))
    verdicts.observe(_live("11"))  # delivered late
    assert verdicts.in_sync(_manifest("d1"))
    verdicts.verified(_live("9"), _manifest("d2"))  # an older read does not win either
    assert verdicts.in_sync(_manifest("d1"))


def test_a_deleted_child_is_neither_seen_nor_in_sync() -> None:
    verdicts = ChildVerdicts()
    verdicts.verified(_live("10"), _manifest("d1"))
    assert verdicts.seen("Service", "ns", "demo-api")
    verdicts.forget("Service", "ns", "demo-api")
    assert not verdicts.seen("Service", "ns", "demo-api")
    assert not verdicts.in_sync(_manifest("d1"))
    assert len(verdicts) == 0


def test_a_manifest_without_a_digest_is_never_taken_as_verified() -> None:
    verdicts = ChildVerdicts()
    bare = {"kind": "Service", "metadata": {"namespace": "ns", "name": "demo-api"}}
    verdicts.verified({**bare, "metadata": {**bare["metadata"], "resourceVersion": "1"}}, bare)
    assert not verdicts.in_sync(bare)


def test_the_echo_of_a_verified_version_needs_no_check() -> None:
    verdicts = ChildVerdicts()
    assert not verdicts.observe(_live("10"))  # never checked
    assert not verdicts.observe(_live("10"))  # seen again, still not checked
    verdicts.verified(_live("11"), _manifest("d1"))  # the operator applied it: version 11
    assert verdicts.observe(_live("11"))  # the watch brings that apply back
    assert not verdicts.observe(_live("12"))  # a controller or a person changed it since
    assert not verdicts.observe(_live("12"))
