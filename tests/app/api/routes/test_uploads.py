"""Image uploads: sniffed type, size limit, stored in a local folder or in S3 (moto server)."""

from __future__ import annotations

import hashlib
import json
import select
import socket
import struct
import zlib
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from tests.app.conftest import AppFactory, assert_problem, served_api, start_chat
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


def test_an_upload_of_a_chat_session_is_read_only_with_that_sessions_token(
    make_client: AppFactory, database_url: str
) -> None:
    client = make_client(database_url=database_url)
    session_id, owner = start_chat(client)
    _, stranger = start_chat(client)
    png = tiny_png()
    created = client.post(
        "/api/v1/uploads",
        files={"file": ("mine.png", png, "image/png")},
        data={"session_id": session_id},
        headers=owner,
    )
    assert created.status_code == 201, created.text
    upload = f"/api/v1/uploads/{created.json()['id']}"
    for path in (upload, f"{upload}/content"):
        for headers in ({}, stranger, {"Authorization": "Bearer not-the-token"}):
            refused = assert_problem(client.get(path, headers=headers), 401)
            assert session_id not in json.dumps(refused)
    assert client.get(upload, headers=owner).json()["session_id"] == session_id
    assert client.get(f"{upload}/content", headers=owner).content == png


def test_an_upload_without_a_chat_session_is_read_by_its_id_alone(
    make_client: AppFactory,
) -> None:
    client = make_client()
    created = client.post("/api/v1/uploads", files={"file": ("p.png", tiny_png(), "image/png")})
    upload = f"/api/v1/uploads/{created.json()['id']}"
    assert client.get(upload).json()["session_id"] is None
    assert client.get(f"{upload}/content").content == tiny_png()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _read_response(sock: socket.socket) -> tuple[int, bytes]:
    """Status and body of one HTTP/1.1 response with a Content-Length."""
    sock.setblocking(True)
    sock.settimeout(30)
    data = b""
    while b"\r\n\r\n" not in data:
        received = sock.recv(65536)
        assert received, f"connection closed before a response: {data!r}"
        data += received
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    while len(body) < int(headers["content-length"]):
        received = sock.recv(65536)
        assert received, "connection closed inside the body"
        body += received
    return int(lines[0].split()[1]), body


def _send_chunked_upload(sock: socket.socket, *, total: int, path: str) -> int:
    """Stream a chunked multipart upload of `total` bytes until the server answers; returns
    how many bytes had been sent by then."""
    boundary = "repairgpt-boundary"
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n".encode()
        + f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n".encode()
        + _chunk(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            'filename="big.png"\r\nContent-Type: image/png\r\n\r\n'.encode()
            + b"\x89PNG\r\n\x1a\n"
        )
    )
    piece = _chunk(b"\0" * 65536)
    pieces = [piece] * (total // len(piece))
    pieces.append(_chunk(f"\r\n--{boundary}--\r\n".encode()) + b"0\r\n\r\n")
    sock.setblocking(False)
    sent, pending = 0, b""
    while True:
        if not pending and pieces:
            pending = pieces.pop(0)
        writers = [sock] if pending else []
        readable, writable, _ = select.select([sock], writers, [], 60)
        if readable or not writable:
            return sent
        try:
            count = sock.send(pending)
        except (BrokenPipeError, ConnectionResetError):
            return sent
        sent += count
        pending = pending[count:]


@pytest.mark.parametrize("path", ["/api/v1/uploads", "/api/v1/guides/1/steps/1/images"])
def test_a_chunked_upload_over_the_limit_is_refused_while_it_streams(
    tmp_path: Path, path: str
) -> None:
    limit, total = 1 << 20, 64 << 20
    with served_api(tmp_path, UPLOAD_MAX_BYTES=str(limit), RATE_LIMIT_REQUESTS="0") as api:
        with socket.create_connection(("127.0.0.1", api.port)) as sock:
            sent_when_answered = _send_chunked_upload(sock, total=total, path=path)
            status, body = _read_response(sock)
        assert status == 413, body
        assert json.loads(body)["type"].endswith("/upload-too-large")
        # The server answered after reading about the limit, not the whole body: what it may
        # have taken in is bounded by what was sent, kernel socket buffers included.
        assert sent_when_answered < total // 4, f"{sent_when_answered} of {total} bytes sent"
        assert not list((tmp_path / "uploads").rglob("*.png"))
        assert httpx.get(f"{api.base_url}/health").status_code == 200
