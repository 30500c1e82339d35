"""Database URLs: accepted in the app's spelling, and never leaking a password."""

from __future__ import annotations

import pytest

from repairgpt.backup.dsn import libpq_target, mask_dsn, scrub, strip_driver
from repairgpt.backup.errors import BackupError


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgresql+psycopg://u:p@h:5432/db", "postgresql://u:p@h:5432/db"),
        ("postgresql+psycopg2://u@h/db", "postgresql://u@h/db"),
        ("postgres+asyncpg://u@h/db", "postgres://u@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("host=h dbname=db", "host=h dbname=db"),
    ],
)
def test_the_apps_sqlalchemy_urls_are_accepted_for_libpq_tools(given: str, expected: str) -> None:
    assert strip_driver(given) == expected


@pytest.mark.parametrize(
    ("dsn", "masked"),
    [
        ("postgresql://app:s3cr%40t@db:5432/repairgpt", "postgresql://app:***@db:5432/repairgpt"),
        (
            "postgresql+psycopg://app:pw@db/x?sslmode=require",
            "postgresql+psycopg://app:***@db/x?sslmode=require",
        ),
        ("postgresql://app@db/x", "postgresql://app@db/x"),
        ("host=db user=app password=hunter2 dbname=x", "host=db user=app password=*** dbname=x"),
        ("host=db password='a b c' dbname=x", "host=db password=*** dbname=x"),
    ],
)
def test_passwords_are_masked_in_anything_printed(dsn: str, masked: str) -> None:
    assert mask_dsn(dsn) == masked


def test_the_password_goes_to_the_environment_not_the_command_line() -> None:
    target = libpq_target("postgresql+psycopg://app:s3cr%40t@db.example:6432/repairgpt")
    assert "s3cr" not in target.conninfo
    assert "host=db.example" in target.conninfo and "port=6432" in target.conninfo
    assert target.password == "s3cr@t"
    assert target.child_env({"PATH": "/bin"}) == {"PATH": "/bin", "PGPASSWORD": "s3cr@t"}
    assert target.display == "postgresql://app:***@db.example:6432/repairgpt"


def test_messages_from_tools_lose_the_password_even_when_it_appears_verbatim() -> None:
    target = libpq_target("postgresql://app:hunter2@db/x")
    assert scrub("auth failed for hunter2 at postgresql://app:hunter2@db/x", target) == (
        "auth failed for *** at postgresql://app:***@db/x"
    )


@pytest.mark.parametrize(
    "dsn", ["postgresql://app:hunter2@[db/x", "host=db password=hunter2 dbname"]
)
def test_a_malformed_url_is_reported_without_its_password(dsn: str) -> None:
    with pytest.raises(BackupError, match="invalid database URL") as caught:
        libpq_target(dsn)
    assert "hunter2" not in caught.value.message
