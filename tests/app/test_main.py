"""The app as `create_app` wires it: browsers on the configured origins may call the API."""

from __future__ import annotations

from tests.app.conftest import AppFactory


def test_browsers_on_the_configured_origins_may_call_the_api(
    make_client: AppFactory, sqlite_url: str
) -> None:
    client = make_client(database_url=sqlite_url, cors_origins=["https://repair.example"])
    preflight = client.options(
        "/api/v1/chat/sessions",
        headers={"Origin": "https://repair.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.headers["access-control-allow-origin"] == "https://repair.example"
    other = client.get("/api/v1/devices", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
