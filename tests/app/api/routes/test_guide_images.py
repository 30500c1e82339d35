"""Guide step images: validated URLs in the schema, admin uploads, a public read, migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import inspect, text

from repairgpt.core.config import normalize_database_url
from repairgpt.core.db import alembic_config, create_db_engine, head_revision, migrate
from repairgpt.schemas import GUIDE_IMAGES_PATH, MAX_STEP_IMAGES
from tests.app.api.routes.test_uploads import tiny_png
from tests.app.conftest import ADMIN_KEY, AppFactory, assert_problem
from tests.utils.servers import S3Server

ADMIN = {"X-API-Key": ADMIN_KEY}
EXTERNAL = "https://images.example.org/igi/abc.standard"


def _guide_body(images: list[Any]) -> dict[str, Any]:
    return {
        "device_id": 1,
        "title": "Replace the kickstand",
        "steps": [{"title": "Open", "text": "Remove the screws.", "images": images}],
    }


def _first_guide(client: TestClient) -> dict[str, Any]:
    hit = client.get("/api/v1/guides", params={"q": "", "limit": 1}).json()["data"][0]
    guide: dict[str, Any] = client.get(f"/api/v1/guides/{hit['id']}").json()
    return guide


def _add_image(client: TestClient, guide_id: int, position: int, data: bytes, **kw: Any) -> Any:
    return client.post(
        f"/api/v1/guides/{guide_id}/steps/{position}/images",
        files={"file": ("step.png", data, "image/png")},
        headers=kw.get("headers", ADMIN),
    )


@pytest.mark.parametrize(
    "bad",
    [
        "http://images.example.org/a.jpg",
        "javascript:alert(1)",
        "//images.example.org/a.jpg",
        "/api/v1/uploads/0123456789abcdef0123456789abcdef/content",
        GUIDE_IMAGES_PATH + "../secret.png",
        "https://images.example.org/a b.jpg",
        "https://images.example.org/" + "a" * 1000,
        "data:image/png;base64,AAAA",
    ],
)
def test_a_step_image_that_is_neither_https_nor_a_guide_image_is_refused(
    make_client: AppFactory, bad: str
) -> None:
    client = make_client()
    response = client.post("/api/v1/guides", json=_guide_body([bad]), headers=ADMIN)
    body = assert_problem(response, 422)
    assert "images" in str(body)


def test_a_step_takes_a_bounded_number_of_images(make_client: AppFactory) -> None:
    client = make_client()
    too_many = [f"{EXTERNAL}?n={n}" for n in range(MAX_STEP_IMAGES + 1)]
    assert_problem(client.post("/api/v1/guides", json=_guide_body(too_many), headers=ADMIN), 422)


def test_step_images_are_stored_and_served_with_the_guide(client: TestClient) -> None:
    same_origin = GUIDE_IMAGES_PATH + "0" * 32 + ".png"
    created = client.post(
        "/api/v1/guides", json=_guide_body([EXTERNAL, same_origin]), headers=ADMIN
    )
    assert created.status_code == 201, created.text
    guide_id = created.json()["id"]
    assert client.get(f"/api/v1/guides/{guide_id}").json()["steps"][0]["images"] == [
        EXTERNAL,
        same_origin,
    ]
    patched = client.patch(
        f"/api/v1/guides/{guide_id}",
        json={"steps": [{"text": "Only text now."}, {"text": "Two.", "images": [EXTERNAL]}]},
        headers=ADMIN,
    )
    assert patched.status_code == 200, patched.text
    assert [step["images"] for step in patched.json()["steps"]] == [[], [EXTERNAL]]


def test_an_uploaded_step_image_is_appended_and_served_publicly(
    make_client: AppFactory, database_url: str, tmp_path: Path
) -> None:
    client = make_client(database_url=database_url, upload_dir=tmp_path / "photos")
    guide = _first_guide(client)
    png = tiny_png()
    response = _add_image(client, guide["id"], 1, png)
    assert response.status_code == 201, response.text
    step = response.json()
    assert step["position"] == 1
    url = step["images"][-1]
    assert url.startswith(GUIDE_IMAGES_PATH) and url.endswith(".png")
    stored = list((tmp_path / "photos" / "guides").glob("*.png"))
    assert [path.read_bytes() for path in stored] == [png]

    served = client.get(url)  # no key, no token: the image is public
    assert served.status_code == 200
    assert served.content == png
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "immutable" in served.headers["cache-control"]
    again = client.get(f"/api/v1/guides/{guide['id']}").json()
    assert again["steps"][0]["images"] == [*guide["steps"][0]["images"], url]
    assert again["updated_at"] > guide["updated_at"]


def test_guide_images_go_to_the_s3_bucket_under_the_guides_prefix(
    make_client: AppFactory, s3_server: S3Server, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    client = make_client(s3_bucket=s3_bucket, s3_endpoint_url=s3_server.endpoint_url)
    guide = _first_guide(client)
    response = _add_image(client, guide["id"], 1, tiny_png())
    assert response.status_code == 201, response.text
    name = response.json()["images"][-1].rsplit("/", 1)[1]
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=s3_bucket)["Contents"]]
    assert keys == [f"uploads/guides/{name}"]
    assert client.get(GUIDE_IMAGES_PATH + name).content == tiny_png()
    assert_problem(client.get(GUIDE_IMAGES_PATH + "f" * 32 + ".png"), 404)


def test_a_guide_image_upload_needs_the_admin_key(make_client: AppFactory) -> None:
    client = make_client()
    guide = _first_guide(client)
    assert_problem(_add_image(client, guide["id"], 1, tiny_png(), headers={}), 401)
    wrong = {"X-API-Key": "not-the-key"}
    assert_problem(_add_image(client, guide["id"], 1, tiny_png(), headers=wrong), 403)
    unchanged = client.get(f"/api/v1/guides/{guide['id']}").json()
    assert unchanged["steps"][0]["images"] == guide["steps"][0]["images"]


def test_a_guide_image_must_be_a_small_real_image_of_an_existing_step(
    make_client: AppFactory, tmp_path: Path
) -> None:
    client = make_client(upload_max_bytes=1000, upload_dir=tmp_path / "photos")
    guide = _first_guide(client)
    gid = guide["id"]
    big = tiny_png() + b"\x00" * 1000
    assert assert_problem(_add_image(client, gid, 1, big), 413)["detail"].endswith("1000 bytes.")
    assert_problem(_add_image(client, gid, 1, b"<svg onload=alert(1)>"), 415)
    assert_problem(_add_image(client, gid, 1, b""), 422)
    assert_problem(_add_image(client, gid, 999, tiny_png()), 404)
    assert_problem(_add_image(client, 2_000_000, 1, tiny_png()), 404)
    assert not (tmp_path / "photos" / "guides").exists()  # nothing refused was stored
    for _ in range(MAX_STEP_IMAGES - len(guide["steps"][0]["images"])):
        assert _add_image(client, gid, 1, tiny_png()).status_code == 201
    assert_problem(_add_image(client, gid, 1, tiny_png()), 409)


@pytest.mark.parametrize(
    "name", ["0" * 32 + ".svg", "0" * 31 + ".png", "../" + "0" * 32 + ".png", "0" * 32]
)
def test_only_guide_image_names_are_read(make_client: AppFactory, name: str) -> None:
    client = make_client()
    assert client.get(GUIDE_IMAGES_PATH + name).status_code in (404, 422)


def test_a_missing_guide_image_is_a_404_problem(make_client: AppFactory) -> None:
    client = make_client()
    assert_problem(client.get(GUIDE_IMAGES_PATH + "a" * 32 + ".webp"), 404)


ROWS_BEFORE_IMAGES = (
    "INSERT INTO devices (id, slug, name, aliases, created_at, updated_at) "
    "VALUES (1, 'd', 'D', '[]', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO repair_guides (id, device_id, title, summary, tools, parts, safety_warnings, "
    "keywords, language, source, is_active, created_at, updated_at) VALUES (1, 1, 'G', '', "
    "'[]', '[]', '[]', '[]', 'en', 's', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
    "INSERT INTO guide_steps (guide_id, position, title, text) VALUES (1, 1, '', 'x')",
)


def test_the_images_migration_upgrades_with_empty_lists_and_downgrades(
    database_url: str,
) -> None:
    from alembic import command

    engine = create_db_engine(normalize_database_url(database_url))
    try:
        migrate(engine, "0001")
        with engine.begin() as connection:
            for statement in ROWS_BEFORE_IMAGES:
                connection.execute(text(statement))
        migrate(engine)
        columns = {c["name"] for c in inspect(engine).get_columns("guide_steps")}
        assert "images" in columns
        with engine.connect() as connection:
            images = connection.execute(text("SELECT images FROM guide_steps")).scalar_one()
        assert images in ([], "[]")  # an existing step has no images

        config = alembic_config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
        columns = {c["name"] for c in inspect(engine).get_columns("guide_steps")}
        assert "images" not in columns
        with engine.connect() as connection:
            assert connection.execute(text("SELECT text FROM guide_steps")).scalar_one() == "x"
        assert migrate(engine) == head_revision()
    finally:
        engine.dispose()
