"""Image uploads: type sniffed from the bytes, size-limited, stored in S3 or the local folder.

An upload attached to a chat session is that session's: reading it needs the session's token.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Response, UploadFile, status
from sqlalchemy.orm import Session

from repairgpt.api.context import AppContext
from repairgpt.api.deps import BearerTokenDep, ContextDep, ReadSessionDep, SessionDep
from repairgpt.api.marks import Mark, mark
from repairgpt.api.problems import ProblemError, bearer_token_refused
from repairgpt.models import Upload, new_public_id
from repairgpt.schemas import UploadPublic
from repairgpt.services import chat_sessions
from repairgpt.services.storage import ImageType, sniff_image_type, upload_key

log = logging.getLogger(__name__)

router = APIRouter(prefix="/uploads", tags=["uploads"])

UploadId = Annotated[str, Path(min_length=32, max_length=32, pattern="^[0-9a-f]{32}$")]
ACCEPTED = "JPEG, PNG, WebP or GIF"


def read_image(file: UploadFile, *, limit: int) -> tuple[bytes, ImageType]:
    """The uploaded bytes and their sniffed image type; refuses empty, too large, not images."""
    data = file.file.read(limit + 1)
    if len(data) > limit:
        raise ProblemError(
            413, f"The file is larger than the limit of {limit} bytes.", slug="upload-too-large"
        )
    if not data:
        raise ProblemError(422, "The file is empty.", slug="upload-empty")
    image = sniff_image_type(data[:16])
    if image is None:
        raise ProblemError(
            415, f"Only {ACCEPTED} images are accepted.", slug="unsupported-media-type"
        )
    return data, image


def store_image(context: AppContext, key: str, data: bytes, image: ImageType) -> None:
    try:
        context.image_store.put(key, data, image.content_type)
    except Exception as exc:  # noqa: BLE001 - boto3 and the file system raise many kinds
        log.warning("upload store failed", extra={"error": type(exc).__name__, "key": key})
        raise ProblemError(
            503,
            "The upload store is unavailable; try again shortly.",
            slug="storage-unavailable",
            headers={"Retry-After": "30"},
        ) from None


@router.post(
    "",
    response_model=UploadPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Upload a photo of the broken device",
    description=f"Images only ({ACCEPTED}); the type is read from the file's bytes.",
)
@mark(Mark.UPLOAD)
def create_upload(
    context: ContextDep,
    session: SessionDep,
    token: BearerTokenDep,
    file: Annotated[UploadFile, File(description="The image file.")],
    session_id: Annotated[
        str | None, Form(pattern="^[0-9a-f]{32}$", description="Attach to a chat session.")
    ] = None,
) -> UploadPublic:
    data, image = read_image(file, limit=context.settings.upload_max_bytes)
    if session_id is not None:
        try:
            chat_sessions.authenticate(session=session, session_id=session_id, token=token)
        except (chat_sessions.SessionNotFound, chat_sessions.BadToken):
            raise _needs_token("Attaching to a chat session") from None
    upload_id = new_public_id()
    prefix = context.settings.s3_prefix if context.image_store.kind == "s3" else ""
    key = upload_key(upload_id, image.extension, prefix=prefix)
    store_image(context, key, data, image)
    filename = (file.filename or "")[:255].replace("\x00", "") or None
    upload = Upload(
        id=upload_id,
        session_id=session_id,
        filename=filename,
        content_type=image.content_type,
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        storage=context.image_store.kind,
        location=key,
    )
    session.add(upload)
    session.commit()
    return UploadPublic.model_validate(upload)


def _needs_token(action: str) -> ProblemError:
    return bearer_token_refused(f"{action} needs that session's bearer token.")


def _find(session: Session, upload_id: str, token: str | None) -> Upload:
    """The upload, if it exists and the caller may read it (see the module's docstring)."""
    upload = session.get(Upload, upload_id)
    if upload is None:
        raise ProblemError(404, f"Upload {upload_id} does not exist.", slug="not-found")
    if upload.session_id is not None:
        try:
            chat_sessions.authenticate(session=session, session_id=upload.session_id, token=token)
        except (chat_sessions.SessionNotFound, chat_sessions.BadToken):
            raise _needs_token("Reading an upload of a chat session") from None
    return upload


SESSION_NOTE = (
    " An upload attached to a chat session needs 'Authorization: Bearer <token>' with that "
    "session's token."
)


@router.get(
    "/{upload_id}",
    response_model=UploadPublic,
    summary="An upload's metadata",
    description="The upload's type, size, checksum and chat session." + SESSION_NOTE,
)
def read_upload(
    session: ReadSessionDep, upload_id: UploadId, token: BearerTokenDep
) -> UploadPublic:
    return UploadPublic.model_validate(_find(session, upload_id, token))


@router.get(
    "/{upload_id}/content",
    summary="The uploaded image",
    description="The image's bytes." + SESSION_NOTE,
    response_class=Response,
    responses={200: {"content": {"image/*": {}}}},
)
def read_upload_content(
    context: ContextDep, session: ReadSessionDep, upload_id: UploadId, token: BearerTokenDep
) -> Response:
    upload = _find(session, upload_id, token)
    if upload.storage != context.image_store.kind:
        raise ProblemError(
            404,
            "The upload is kept in a store this server is not configured for.",
            slug="not-found",
        )
    try:
        data = context.image_store.get(upload.location)
    except Exception as exc:  # noqa: BLE001 - a missing object and a dead store look alike here
        log.warning("upload read failed", extra={"error": type(exc).__name__, "id": upload_id})
        raise ProblemError(
            503, "The uploaded image cannot be read right now.", slug="storage-unavailable"
        ) from None
    return Response(
        data, media_type=upload.content_type, headers={"X-Content-Type-Options": "nosniff"}
    )
