"""Image uploads: sniffed type, size limit, stored in a local folder or in S3 (moto server)."""

from __future__ import annotations

import hashlib
import struct
import zlib
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from tests.app.conftest import AppFactory, assert_problem
from tests.utils.servers import S3Server


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _upload(client: TestClient, name: str, data: bytes, claimed: str) -> object:
    return client.post("/api/v1/uploads", files={"file": (name, data, claimed)})


def test_an_image_is_stored_in_the_local_folder_and_recorded(
    make_client: AppFactory, tmp_path: Path
) -> None:
    client = make_client(upload_dir=tmp_path / "photos")
    png = tiny_png()
    response = client.post("/api/v1/uploads", files={"file": ("phone.png", png, "image/png")})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["content_type"] == "image/png"
    assert body["size_bytes"] == len(png)
    assert body["sha256"] == hashlib.sha256(png).hexdigest()
    assert body["storage"] == "local"
    stored = list((tmp_path / "photos").rglob("*.png"))
    assert len(stored) == 1 and stored[0].read_bytes() == png
    assert client.get(f"/api/v1/uploads/{body['id']}").json()["filename"] == "phone.png"
    content = client.get(f"/api/v1/uploads/{body['id']}/content")
    assert content.content == png and content.headers["content-type"] == "image/png"


def test_the_type_comes_from_the_bytes_not_from_the_client(make_client: AppFactory) -> None:
    client = make_client()
    fake = client.post(
        "/api/v1/uploads", files={"file": ("evil.png", b"<script>alert(1)</script>", "image/png")}
    )
    body = assert_problem(fake, 415)
    assert "JPEG, PNG, WebP or GIF" in body["detail"]
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 64
    real = client.post("/api/v1/uploads", files={"file": ("a.txt", jpeg, "text/plain")})
    assert real.status_code == 201 and real.json()["content_type"] == "image/jpeg"


def test_files_over_the_size_limit_are_refused(make_client: AppFactory, tmp_path: Path) -> None:
    client = make_client(upload_max_bytes=1000, upload_dir=tmp_path / "photos")
    too_big = b"\x89PNG\r\n\x1a\n" + b"\x00" * 1500
    assert_problem(
        client.post("/api/v1/uploads", files={"file": ("big.png", too_big, "image/png")}), 413
    )
    huge = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200_000
    assert_problem(
        client.post("/api/v1/uploads", files={"file": ("huge.png", huge, "image/png")}), 413
    )
    assert not list((tmp_path / "photos").rglob("*.png"))


def test_images_go_to_the_s3_bucket_when_one_is_configured(
    make_client: AppFactory,
    database_url: str,
    s3_server: S3Server,
    s3_bucket: str,
    monkeypatch: object,
) -> None:
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)  # type: ignore[attr-defined]
    client = make_client(
        database_url=database_url, s3_bucket=s3_bucket, s3_endpoint_url=s3_server.endpoint_url
    )
    png = tiny_png()
    response = client.post("/api/v1/uploads", files={"file": ("p.png", png, "image/png")})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["storage"] == "s3"
    objects = s3_server.client().list_objects_v2(Bucket=s3_bucket).get("Contents", [])
    assert len(objects) == 1
    key = objects[0]["Key"]
    assert key.startswith("uploads/") and key.endswith(f"{body['id']}.png")
    stored = s3_server.client().get_object(Bucket=s3_bucket, Key=key)
    assert stored["Body"].read() == png and stored["ContentType"] == "image/png"
    engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as connection:
        row = connection.execute(text("SELECT storage, location FROM uploads")).one()
    engine.dispose()
    assert tuple(row) == ("s3", key)


def test_a_missing_bucket_is_a_503_problem_not_a_crash(
    make_client: AppFactory, s3_server: S3Server, monkeypatch: object
) -> None:
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)  # type: ignore[attr-defined]
    client = make_client(s3_bucket="no-such-bucket-here", s3_endpoint_url=s3_server.endpoint_url)
    response = client.post("/api/v1/uploads", files={"file": ("p.png", tiny_png(), "image/png")})
    assert_problem(response, 503)
    assert response.headers["Retry-After"] == "30"
