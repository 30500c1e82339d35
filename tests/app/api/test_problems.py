"""Every error is problem+json, and browsers are told apart from API clients."""

from __future__ import annotations

from repairgpt.api.problems import wants_html
from tests.app.conftest import AppFactory, assert_problem


def test_unknown_paths_wrong_methods_and_bad_input_are_problems(
    make_client: AppFactory, sqlite_url: str
) -> None:
    client = make_client(database_url=sqlite_url)
    body = assert_problem(client.get("/api/v1/nothing-here"), 404)
    assert body["instance"] == "/api/v1/nothing-here"
    assert_problem(client.put("/api/v1/guides"), 405)
    invalid = assert_problem(client.get("/api/v1/guides", params={"limit": "many"}), 422)
    assert invalid["errors"][0]["loc"] == ["query", "limit"]
    assert_problem(client.get("/api/v1/guides", params={"q": "a\x00b"}), 422)


def test_an_unhandled_error_is_a_500_problem_without_internals(
    make_client: AppFactory, sqlite_url: str
) -> None:
    client = make_client(database_url=sqlite_url, raise_server_exceptions=False)

    def explode() -> None:
        raise RuntimeError("secret internal detail")

    client.app.add_api_route("/api/v1/explode", explode)  # type: ignore[attr-defined]
    response = client.get("/api/v1/explode")
    body = assert_problem(response, 500)
    assert "secret internal detail" not in response.text
    assert body["title"] == "Internal Server Error"


def test_browsers_get_html_and_api_clients_get_json() -> None:
    assert wants_html("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
    assert not wants_html("application/json")
    assert not wants_html("*/*")
    assert not wants_html(None)
    assert not wants_html("application/problem+json, text/html;q=0.5")
