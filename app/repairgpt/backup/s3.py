"""S3 access for backups: streaming multipart upload, verified download, clear errors.

Listings and small objects such as manifests are in `s3_objects.py`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from repairgpt.backup.errors import (
    BackupError,
    BackupNotFoundError,
    BucketMissingError,
    S3CredentialsError,
    S3Error,
    S3UnreachableError,
)
from repairgpt.backup.layout import normalize_prefix
from repairgpt.backup.progress import Progress

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client as S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef
else:
    S3Client = Any

MiB = 1024 * 1024
DEFAULT_PART_SIZE = 8 * MiB
# S3 allows 10,000 parts; doubling the part every 2,000 parts lifts the ceiling to ~240 GiB of
# compressed dump with an 8 MiB start while small backups keep small buffers.
_PARTS_PER_SIZE_STEP = 2000
_MAX_PART_SIZE = 512 * MiB
_CREDENTIAL_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "ExpiredToken",
    "InvalidToken",
    "InvalidClientTokenId",
    "UnrecognizedClientException",
    "403",
    "Forbidden",
}
_UNREACHABLE = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
)


@dataclass(frozen=True)
class S3Location:
    """Where backups live and how to reach the store; credentials come from the AWS chain."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None

    @property
    def normalized_prefix(self) -> str:
        return normalize_prefix(self.prefix)

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.normalized_prefix}"
        endpoint = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
        return f"{where} at {endpoint}" if endpoint else where


def make_client(location: S3Location) -> S3Client:
    """A client that fails fast when the store is unreachable instead of retrying for minutes."""
    config = Config(
        connect_timeout=5,
        read_timeout=60,
        retries={"max_attempts": 3, "mode": "standard"},
        max_pool_connections=16,
    )
    kwargs: dict[str, Any] = {"config": config}
    if location.endpoint_url:
        kwargs["endpoint_url"] = location.endpoint_url
    if location.region:
        kwargs["region_name"] = location.region
    try:
        client: S3Client = boto3.client("s3", **kwargs)
    except BotoCoreError as exc:
        raise S3Error(f"cannot set up the S3 client: {exc}") from exc
    return client


def s3_failure(exc: BaseException, location: S3Location, action: str) -> BackupError:
    """The user-facing error for a failed S3 call."""
    where = location.describe()
    if isinstance(exc, BackupError):
        return exc
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return S3CredentialsError(
            f"{action} failed: no usable S3 credentials; set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or another source of the AWS credential chain)"
        )
    if isinstance(exc, _UNREACHABLE):
        return S3UnreachableError(f"{action} failed: cannot reach S3 ({where}): {exc}")
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")) or code
        if code in _CREDENTIAL_CODES:
            return S3CredentialsError(
                f"{action} failed: S3 rejected the credentials or their permissions "
                f"({code}: {message}) for {where}"
            )
        if code == "NoSuchBucket":
            return BucketMissingError(
                f"{action} failed: the bucket {location.bucket!r} does not exist ({where})"
            )
        if code in {"NoSuchKey", "404", "NotFound"}:
            return BackupNotFoundError(f"{action} failed: object not found in {where}")
        return S3Error(f"{action} failed: S3 error {code}: {message} ({where})")
    if isinstance(exc, BotoCoreError):
        return S3Error(f"{action} failed: {exc} ({where})")
    return S3Error(f"{action} failed: {type(exc).__name__}: {exc} ({where})")


@contextmanager
def s3_errors(location: S3Location, action: str) -> Iterator[None]:
    try:
        yield
    except (BotoCoreError, ClientError) as exc:
        raise s3_failure(exc, location, action) from exc


def check_bucket(client: S3Client, location: S3Location) -> None:
    """Fail early, before any dump starts, on a missing bucket, bad credentials or no network."""
    try:
        client.head_bucket(Bucket=location.bucket)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in {"404", "NoSuchBucket", "NotFound"}:
            raise BucketMissingError(
                f"the bucket {location.bucket!r} does not exist ({location.describe()})"
            ) from exc
        raise s3_failure(exc, location, "checking the bucket") from exc
    except BotoCoreError as exc:
        raise s3_failure(exc, location, "checking the bucket") from exc


def part_size_for(part_number: int, base: int = DEFAULT_PART_SIZE) -> int:
    """Size of part `part_number` (1-based); grows so that 10,000 parts hold a large dump."""
    steps = (part_number - 1) // _PARTS_PER_SIZE_STEP
    return min(base << steps, max(_MAX_PART_SIZE, base))


class ByteSource(Protocol):
    def read(self, size: int, /) -> bytes: ...


@dataclass(frozen=True)
class UploadResult:
    size_bytes: int
    sha256: str
    parts: int


class _PartUploads:
    """Parts of one multipart upload sent on worker threads, at most `in_flight` at a time."""

    def __init__(
        self,
        client: S3Client,
        location: S3Location,
        key: str,
        upload_id: str,
        *,
        in_flight: int,
        progress: Progress | None,
    ) -> None:
        self._client = client
        self._location = location
        self._key = key
        self._upload_id = upload_id
        self._in_flight = in_flight
        self._progress = progress
        self._completed: dict[int, str] = {}
        self._pending: set[Future[None]] = set()
        self._executor = ThreadPoolExecutor(max_workers=in_flight, thread_name_prefix="s3-part")

    def submit(self, number: int, data: bytes) -> None:
        """Queue part `number`, first waiting (and re-raising failures) while all slots are busy."""
        while len(self._pending) >= self._in_flight:
            done, self._pending = wait(self._pending, return_when=FIRST_COMPLETED)
            for future in done:
                future.result()
        self._pending.add(self._executor.submit(self._send, number, data))

    def _send(self, number: int, data: bytes) -> None:
        with s3_errors(self._location, f"uploading part {number}"):
            response = self._client.upload_part(
                Bucket=self._location.bucket,
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=number,
                Body=data,
            )
        self._completed[number] = response["ETag"]
        if self._progress is not None:
            self._progress.add(len(data))

    def finish(self) -> list[CompletedPartTypeDef]:
        """Wait for every part; the (number, ETag) list that completes the upload."""
        for future in self._pending:
            future.result()
        return [{"PartNumber": n, "ETag": self._completed[n]} for n in sorted(self._completed)]

    def cancel(self) -> None:
        for future in self._pending:
            future.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def upload_stream(
    client: S3Client,
    location: S3Location,
    key: str,
    source: ByteSource,
    *,
    part_size: int = DEFAULT_PART_SIZE,
    parts_in_flight: int = 2,
    before_complete: Callable[[], None] = lambda: None,
    progress: Progress | None = None,
    content_type: str = "application/gzip",
) -> UploadResult:
    """Stream `source` into `key` by multipart upload, hashing on the way.

    Memory is bounded by (1 + parts_in_flight) parts. `before_complete` runs after the source
    ends and before the upload is completed, so a failed producer can still veto the object.
    Any failure aborts the upload: nothing half-written stays behind.
    """
    with s3_errors(location, "starting the upload"):
        upload_id = client.create_multipart_upload(
            Bucket=location.bucket, Key=key, ContentType=content_type
        )["UploadId"]
    digest = hashlib.sha256()
    size = 0
    parts = _PartUploads(
        client, location, key, upload_id, in_flight=parts_in_flight, progress=progress
    )
    try:
        number = 0
        while True:
            chunk = source.read(part_size_for(number + 1, part_size))
            if not chunk and number > 0:
                break
            number += 1
            digest.update(chunk)
            size += len(chunk)
            parts.submit(number, chunk)
            del chunk  # the part's only reference now lives in the upload task
            if size == 0:
                break  # an empty source still makes one (empty) part
        completed = parts.finish()
        before_complete()
        with s3_errors(location, "completing the upload"):
            client.complete_multipart_upload(
                Bucket=location.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": completed},
            )
    except BaseException:
        parts.cancel()
        abort_upload(client, location, key, upload_id)
        raise
    parts.close()
    return UploadResult(size_bytes=size, sha256=digest.hexdigest(), parts=len(completed))


def abort_upload(client: S3Client, location: S3Location, key: str, upload_id: str) -> None:
    """Best effort: when the store is unreachable, `prune` aborts the upload a day later."""
    try:
        client.abort_multipart_upload(Bucket=location.bucket, Key=key, UploadId=upload_id)
    except (BotoCoreError, ClientError):
        pass


def iter_object(
    client: S3Client, location: S3Location, key: str, *, chunk_size: int = MiB
) -> Iterator[bytes]:
    """An object's bytes in chunks as they arrive; S3 errors become BackupErrors."""
    with s3_errors(location, f"downloading {key}"):
        body = client.get_object(Bucket=location.bucket, Key=key)["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()


def download_to_file(
    client: S3Client,
    location: S3Location,
    key: str,
    target: IO[bytes],
    *,
    progress: Progress | None = None,
    chunk_size: int = MiB,
) -> tuple[int, str]:
    """Copy an object into an open file; returns (size, sha256) of what was written."""
    digest = hashlib.sha256()
    size = 0
    for chunk in iter_object(client, location, key, chunk_size=chunk_size):
        digest.update(chunk)
        target.write(chunk)
        size += len(chunk)
        if progress is not None:
            progress.add(len(chunk))
    return size, digest.hexdigest()
