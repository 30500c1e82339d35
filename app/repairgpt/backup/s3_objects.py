"""Listings and single objects in S3: small reads and writes, lookups, batched deletion."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from repairgpt.backup.errors import S3Error
from repairgpt.backup.s3 import S3Client, S3Location, s3_errors, s3_failure
from repairgpt.backup.stored_backups import PendingUpload, StoredObject


def read_small_object(client: S3Client, location: S3Location, key: str) -> bytes:
    with s3_errors(location, f"reading {key}"):
        data: bytes = client.get_object(Bucket=location.bucket, Key=key)["Body"].read()
    return data


def put_small_object(
    client: S3Client, location: S3Location, key: str, data: bytes, content_type: str
) -> None:
    with s3_errors(location, f"writing {key}"):
        client.put_object(Bucket=location.bucket, Key=key, Body=data, ContentType=content_type)


def head_object(client: S3Client, location: S3Location, key: str) -> StoredObject | None:
    try:
        head = client.head_object(Bucket=location.bucket, Key=key)
    except ClientError as exc:
        if str(exc.response.get("Error", {}).get("Code", "")) in {"404", "NoSuchKey", "NotFound"}:
            return None
        raise s3_failure(exc, location, f"looking up {key}") from exc
    except BotoCoreError as exc:
        raise s3_failure(exc, location, f"looking up {key}") from exc
    return StoredObject(key, int(head["ContentLength"]), head["LastModified"])


def list_objects(client: S3Client, location: S3Location) -> list[StoredObject]:
    return [
        StoredObject(item["Key"], int(item["Size"]), item["LastModified"])
        for item in _listed(client, location, "list_objects_v2", "Contents", "listing backups")
    ]


def list_pending_uploads(client: S3Client, location: S3Location) -> list[PendingUpload]:
    return [
        PendingUpload(item["Key"], item["UploadId"], item["Initiated"])
        for item in _listed(
            client, location, "list_multipart_uploads", "Uploads", "listing unfinished uploads"
        )
    ]


def _listed(
    client: S3Client, location: S3Location, operation: str, field: str, doing: str
) -> list[dict[str, Any]]:
    """Every item of every page of a listing under the location's prefix."""
    items: list[dict[str, Any]] = []
    with s3_errors(location, doing):
        paginator = client.get_paginator(operation)  # type: ignore[call-overload]
        for page in paginator.paginate(Bucket=location.bucket, Prefix=location.normalized_prefix):
            items.extend(page.get(field, []))
    return items


def delete_objects(client: S3Client, location: S3Location, keys: list[str]) -> None:
    for start in range(0, len(keys), 1000):
        batch = keys[start : start + 1000]
        with s3_errors(location, "deleting old backups"):
            response = client.delete_objects(
                Bucket=location.bucket,
                Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
            )
        errors = response.get("Errors", [])
        if errors:
            first = errors[0]
            raise S3Error(
                f"deleting {first.get('Key')} failed: {first.get('Code')}: {first.get('Message')}"
            )
