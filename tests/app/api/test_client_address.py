"""The client behind a proxy: TRUSTED_PROXIES decides whose X-Forwarded-For is believed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError

from repairgpt.core.config import Settings
from repairgpt.core.proxies import TrustedProxies, forwarded_client
from tests.app.conftest import ServedAPI, served_api

INGRESS = TrustedProxies.parse(["10.0.0.0/8"])


def test_a_trusted_proxy_names_the_client_it_received_the_request_from() -> None:
    assert forwarded_client("10.1.2.3", "203.0.113.7", INGRESS) == "203.0.113.7"


def test_an_untrusted_peer_cannot_choose_its_address() -> None:
    assert forwarded_client("198.51.100.9", "203.0.113.7", INGRESS) == "198.51.100.9"
    assert forwarded_client("10.1.2.3", "203.0.113.7", TrustedProxies()) == "10.1.2.3"


def test_addresses_a_client_put_left_of_its_own_are_ignored() -> None:
    # The client sent "1.1.1.1"; the trusted proxy appended the address it saw.
    assert forwarded_client("10.1.2.3", "1.1.1.1, 203.0.113.7", INGRESS) == "203.0.113.7"


def test_a_chain_of_trusted_proxies_is_walked_from_the_right() -> None:
    forwarded = "1.1.1.1, 203.0.113.7, 10.9.9.9, 10.8.8.8"
    assert forwarded_client("10.1.2.3", forwarded, INGRESS) == "203.0.113.7"


def test_a_list_of_trusted_proxies_only_gives_its_leftmost_address() -> None:
    assert forwarded_client("10.1.2.3", "10.7.7.7, 10.8.8.8", INGRESS) == "10.7.7.7"


def test_ports_and_brackets_in_forwarded_addresses_are_dropped() -> None:
    assert forwarded_client("10.1.2.3", "203.0.113.7:5555", INGRESS) == "203.0.113.7"
    assert forwarded_client("10.1.2.3", "[2001:db8::1]:443", INGRESS) == "2001:db8::1"


def test_a_forwarded_element_that_is_no_address_stops_at_the_proxy_that_wrote_it() -> None:
    assert forwarded_client("10.1.2.3", "203.0.113.7, unknown", INGRESS) == "10.1.2.3"


def test_a_star_trusts_any_peer() -> None:
    anyone = TrustedProxies.parse(["*"])
    assert forwarded_client("198.51.100.9", "203.0.113.7", anyone) == "203.0.113.7"


def test_a_star_believes_only_the_address_the_peer_appended() -> None:
    # A client that sends its own X-Forwarded-For cannot pick its address (and its budget).
    anyone = TrustedProxies.parse(["*"])
    forged = "198.51.100.1, 203.0.113.7"
    assert forwarded_client("10.1.2.3", forged, anyone) == "203.0.113.7"
    assert forwarded_client("10.1.2.3", "10.9.9.9, 203.0.113.7", anyone) == "203.0.113.7"


def test_an_ipv4_peer_on_a_dual_stack_socket_is_matched_as_ipv4() -> None:
    assert forwarded_client("::ffff:10.1.2.3", "203.0.113.7", INGRESS) == "203.0.113.7"


def test_trusted_proxies_are_read_from_a_comma_separated_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", " 10.0.0.0/8, 192.168.1.10 ,fd00::/8")
    assert Settings().trusted_proxies == ["10.0.0.0/8", "192.168.1.10/32", "fd00::/8"]
    monkeypatch.setenv("TRUSTED_PROXIES", "*")
    assert Settings().trusted_proxies == ["*"]
    monkeypatch.delenv("TRUSTED_PROXIES")
    assert Settings().trusted_proxies == []


def test_a_trusted_proxy_that_is_not_an_address_is_refused_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.0/8,ingress-nginx")
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings()


# Behind a real server: all of 127.0.0.0/8 reaches this machine, so a client socket bound to
# 127.0.0.2 plays the Ingress, and one on 127.0.0.1 an untrusted peer.
PROXY = "127.0.0.2"
BUDGET = 3


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedAPI]:
    folder: Path = tmp_path_factory.mktemp("proxied")
    with served_api(
        folder,
        TRUSTED_PROXIES=f"{PROXY}/32",
        RATE_LIMIT_REQUESTS=str(BUDGET),
        # One window for the whole module: a window that resets mid-test would refill budgets.
        RATE_LIMIT_WINDOW_SECONDS="86400",
    ) as served:
        yield served


def _from(address: str, api: ServedAPI) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=api.base_url, transport=transport, timeout=10)


def _statuses(client: httpx.Client, forwarded_for: str, count: int) -> list[int]:
    return [
        client.get("/api/v1/guides", headers={"X-Forwarded-For": forwarded_for}).status_code
        for _ in range(count)
    ]


def test_two_clients_behind_one_proxy_each_get_their_own_budget(api: ServedAPI) -> None:
    with _from(PROXY, api) as proxy:
        assert _statuses(proxy, "203.0.113.10", BUDGET + 1) == [200] * BUDGET + [429]
        # Another user behind the same Ingress pod still has a whole budget.
        assert _statuses(proxy, "203.0.113.11", BUDGET) == [200] * BUDGET
        # What a client writes left of the address the proxy appends changes nothing.
        assert _statuses(proxy, "6.6.6.6, 203.0.113.11", 1) == [429]
    access = [r for r in api.log_records() if r.get("logger") == "repairgpt.access"]
    clients = {r["client"] for r in access if r["path"] == "/api/v1/guides"}
    assert {"203.0.113.10", "203.0.113.11"} <= clients
    assert PROXY not in clients and "6.6.6.6" not in clients


def test_an_untrusted_peer_cannot_spoof_its_way_to_fresh_budgets(api: ServedAPI) -> None:
    with _from("127.0.0.1", api) as peer:
        statuses = [
            peer.get("/api/v1/guides", headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code
            for n in range(BUDGET + 2)
        ]
    assert statuses == [200] * BUDGET + [429, 429]
