"""After a failover the API runs on a real streaming replica: it reads and chats, refuses writes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from tests.app.conftest import ADMIN_KEY, AppFactory, assert_problem
from tests.operator.e2e.databases import PrimaryAndReplica

RETRY_AFTER = 37
TINY_PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture(scope="module")
def databases() -> Iterator[PrimaryAndReplica]:
    # Every statement the replica receives is logged, to see what the app asks of it.
    pair = PrimaryAndReplica().start("log_statement = 'all'", "log_min_error_statement = error")
    try:
        yield pair
    finally:
        pair.cleanup()


def _count(pair: PrimaryAndReplica, table: str) -> int:
    return int(pair.primary.psql(f"SELECT count(*) FROM {table}", dbname="repairgpt"))


def test_the_api_on_the_replica_reads_and_chats_but_refuses_every_write(
    make_client: AppFactory, databases: PrimaryAndReplica
) -> None:
    primary_app = make_client(database_url=databases.primary_url)
    session = primary_app.post("/api/v1/chat/sessions").json()
    chat_headers = {"Authorization": f"Bearer {session['token']}"}
    databases.wait_replica_caught_up()
    guides_before = _count(databases, "repair_guides")
    assert guides_before > 0
    log_start = databases.replica.log_file.stat().st_size

    client = make_client(
        database_url=databases.replica_url, read_only_mode=True, retry_after_seconds=RETRY_AFTER
    )
    assert client.get("/ready").status_code == 200, "pods on the replica must become ready"

    found = client.get("/api/v1/guides", params={"q": "battery"})
    assert found.status_code == 200 and found.json()["count"] > 0
    guide_id = found.json()["data"][0]["id"]
    guide = client.get(f"/api/v1/guides/{guide_id}")
    assert guide.status_code == 200 and guide.json()["steps"]

    answer = client.post(
        f"/api/v1/chat/sessions/{session['id']}/messages",
        json={"content": "iPhone battery drains fast"},
        headers=chat_headers,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["saved"] is False
    assert answer.json()["citations"]

    admin = {"X-API-Key": ADMIN_KEY}
    device_id = guide.json()["device"]["id"]
    new_guide = {
        "device_id": device_id,
        "title": "Replacement written during a failover",
        "steps": [{"title": "Open", "text": "Remove the back cover."}],
    }
    refused = [
        client.post("/api/v1/guides", json=new_guide, headers=admin),
        client.patch(f"/api/v1/guides/{guide_id}", json={"title": "Renamed"}, headers=admin),
        client.delete(f"/api/v1/guides/{guide_id}", headers=admin),
        client.post("/api/v1/uploads", files={"file": ("p.png", TINY_PNG, "image/png")}),
        client.post("/api/v1/chat/sessions"),
    ]
    for response in refused:
        body = assert_problem(response, 503)
        assert response.headers["Retry-After"] == str(RETRY_AFTER)
        assert "read-only" in body["detail"]

    replica_log = databases.replica.log_file.read_text(errors="replace")[log_start:]
    assert "statement: " in replica_log, "the replica should log what the app asked of it"
    assert "pg_advisory_xact_lock" not in replica_log, "the app tried to migrate the replica"
    assert "ERROR:" not in replica_log, f"a write reached the replica:\n{replica_log[-2000:]}"
    assert _count(databases, "repair_guides") == guides_before
    assert primary_app.get(f"/api/v1/guides/{guide_id}").json()["title"] != "Renamed"


@pytest.fixture
def killable_databases() -> Iterator[PrimaryAndReplica]:
    pair = PrimaryAndReplica().start()
    try:
        yield pair
    finally:
        pair.cleanup()


def test_reads_are_served_from_the_replica_while_the_primary_is_down(
    make_client: AppFactory, killable_databases: PrimaryAndReplica
) -> None:
    pair = killable_databases
    client = make_client(database_url=pair.primary_url, database_replica_url=pair.replica_url)
    without_replica = make_client(database_url=pair.primary_url)
    router = client.app.state.context.reads  # type: ignore[attr-defined]
    router.cooldown.seconds = 1.0
    chat = client.post("/api/v1/chat/sessions").json()
    chat_headers = {"Authorization": f"Bearer {chat['token']}"}
    guide_id = client.get("/api/v1/guides", params={"q": "battery"}).json()["data"][0]["id"]
    guide = client.get(f"/api/v1/guides/{guide_id}").json()
    device_id = guide["device"]["id"]
    reads = [
        f"/api/v1/guides/{guide_id}",
        "/api/v1/devices",
        f"/api/v1/devices/{device_id}",
        f"/api/v1/chat/sessions/{chat['id']}/messages",
    ]
    before = {path: client.get(path, headers=chat_headers).json() for path in reads}
    pair.wait_replica_caught_up()

    pair.primary.kill()

    # Without a replica a database read fails while the primary is down ...
    assert_problem(without_replica.get(f"/api/v1/guides/{guide_id}"), 503)
    # ... with one, every read is answered, the first one included, with the same data.
    for path in reads:
        response = client.get(path, headers=chat_headers)
        assert response.status_code == 200, (path, response.text)
        assert response.json() == before[path], path
    # Writes still go to the primary only, and fail clearly.
    body = assert_problem(client.post("/api/v1/chat/sessions"), 503)
    assert body["type"].endswith("database-unavailable")

    # Once the primary is back, reads return to it after the retry interval: with the replica
    # gone, they are still answered.
    assert router.on_replica
    pair.primary.start()
    pair.replica.kill()
    time.sleep(router.cooldown.seconds)
    response = client.get(f"/api/v1/guides/{guide_id}")
    assert response.status_code == 200, response.text
    assert not router.on_replica
