"""Where uploaded images go: an S3 bucket through boto3, or a local folder by default."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

# (magic prefix, content type, extension); WebP is checked separately (RIFF....WEBP).
_IMAGE_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", "png"),
    (b"GIF87a", "image/gif", "gif"),
    (b"GIF89a", "image/gif", "gif"),
)


@dataclass(frozen=True)
class ImageType:
    content_type: str
    extension: str


def sniff_image_type(head: bytes) -> ImageType | None:
    """The image type the bytes really are, whatever the client claimed; None if not an image."""
    for magic, content_type, extension in _IMAGE_SIGNATURES:
        if head.startswith(magic):
            return ImageType(content_type, extension)
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return ImageType("image/webp", "webp")
    return None


def accepted_image_types() -> list[str]:
    """The content types that sniff_image_type recognises, for clients to show before upload."""
    return sorted({content_type for _, content_type, _ in _IMAGE_SIGNATURES} | {"image/webp"})


def upload_key(
    upload_id: str, extension: str, *, prefix: str = "", now: datetime | None = None
) -> str:
    """Object key of an upload, grouped by day so a bucket listing stays browsable."""
    moment = now or datetime.now(UTC)
    return f"{prefix}{moment:%Y/%m/%d}/{upload_id}.{extension}"


GUIDE_IMAGE_FOLDER = "guides/"


def guide_image_key(name: str, *, prefix: str = "") -> str:
    """Object key of a guide image: public, so kept apart from the chat uploads."""
    return f"{prefix}{GUIDE_IMAGE_FOLDER}{name}"


def content_type_of_extension(extension: str) -> str | None:
    """The content type that sniff_image_type gives files with this extension."""
    known = {ext: content_type for _, content_type, ext in _IMAGE_SIGNATURES}
    return {**known, "webp": "image/webp"}.get(extension)


class ImageStore(Protocol):
    kind: str

    def put(self, key: str, data: bytes, content_type: str) -> str: ...

    def get(self, key: str) -> bytes: ...


class LocalImageStore:
    """Files under one folder; the embedded default."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError("upload key escapes the upload folder")
        return path

    def put(self, key: str, data: bytes, content_type: str) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(path.suffix + ".part")
        temporary.write_bytes(data)
        temporary.replace(path)
        return key

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()


class S3ImageStore:
    """Objects in an S3 bucket (AWS or any S3-compatible endpoint); credentials from AWS_*."""

    kind = "s3"

    def __init__(self, bucket: str, *, endpoint_url: str | None, region: str | None) -> None:
        import boto3

        self.bucket = bucket
        self._client: Any = boto3.client("s3", endpoint_url=endpoint_url, region_name=region)

    def put(self, key: str, data: bytes, content_type: str) -> str:
        self._client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        return key

    def get(self, key: str) -> bytes:
        response = self._client.get_object(Bucket=self.bucket, Key=key)
        body: bytes = response["Body"].read()
        return body


def build_image_store(
    *, bucket: str | None, endpoint_url: str | None, region: str | None, folder: Path
) -> ImageStore:
    if bucket:
        return S3ImageStore(bucket, endpoint_url=endpoint_url, region=region)
    return LocalImageStore(folder)
