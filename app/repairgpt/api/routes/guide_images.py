"""Guide step images served by the API itself: admin upload, and a public read by name.

The names are random, so the images are public and cacheable for good; chat uploads stay
private in routes/uploads.py.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, File, Path, Response, UploadFile, status

from repairgpt.api.deps import AdminDep, ContextDep, SessionDep
from repairgpt.api.marks import Mark, mark
from repairgpt.api.problems import ProblemError
from repairgpt.api.routes.guides import GuideId, commit_guide_change, existing_guide
from repairgpt.api.routes.uploads import ACCEPTED, read_image, store_image
from repairgpt.models import new_public_id
from repairgpt.schemas import (
    GUIDE_IMAGE_NAME,
    GUIDE_IMAGES_PATH,
    MAX_DB_INT,
    MAX_STEP_IMAGES,
    GuideStepPublic,
)
from repairgpt.services.guides import add_step_image, step_at
from repairgpt.services.storage import content_type_of_extension, guide_image_key

log = logging.getLogger(__name__)

router = APIRouter(tags=["guides"])

StepPosition = Annotated[int, Path(ge=1, le=MAX_DB_INT)]
ImageName = Annotated[str, Path(pattern=f"^{GUIDE_IMAGE_NAME}$", max_length=40)]
# Guide images never change under a name: browsers and the CDN may keep them for a year.
CACHE_FOREVER = "public, max-age=31536000, immutable"


@router.post(
    "/guides/{guide_id}/steps/{position}/images",
    response_model=GuideStepPublic,
    status_code=status.HTTP_201_CREATED,
    dependencies=[AdminDep],
    summary="Add an image to a guide step (X-API-Key)",
    description=(
        f"Images only ({ACCEPTED}), within the upload size limit; the type is read from the "
        f"file's bytes. The image's path under {GUIDE_IMAGES_PATH} is appended to the step's "
        f"`images` (at most {MAX_STEP_IMAGES})."
    ),
)
@mark(Mark.UPLOAD)
def create_step_image(
    context: ContextDep,
    session: SessionDep,
    guide_id: GuideId,
    position: StepPosition,
    file: Annotated[UploadFile, File(description="The image file.")],
) -> GuideStepPublic:
    guide = existing_guide(session, guide_id)
    step = step_at(guide, position)
    if step is None:
        raise ProblemError(404, f"Guide {guide_id} has no step {position}.", slug="not-found")
    if len(step.images or []) >= MAX_STEP_IMAGES:
        raise ProblemError(
            409, f"A step has at most {MAX_STEP_IMAGES} images.", slug="too-many-images"
        )
    data, image = read_image(file, limit=context.settings.upload_max_bytes)
    name = f"{new_public_id()}.{image.extension}"
    prefix = context.settings.s3_prefix if context.image_store.kind == "s3" else ""
    store_image(context, guide_image_key(name, prefix=prefix), data, image)
    add_step_image(session=session, guide=guide, step=step, url=GUIDE_IMAGES_PATH + name)
    public = GuideStepPublic.model_validate(step)
    commit_guide_change(context, session)
    return public


def _is_missing(exc: Exception) -> bool:
    """A file or S3 object that is not there, as opposed to a store that cannot be reached."""
    if isinstance(exc, FileNotFoundError):
        return True
    error = getattr(exc, "response", None)
    code = error.get("Error", {}).get("Code") if isinstance(error, dict) else None
    return code in ("NoSuchKey", "404")


@router.get(
    GUIDE_IMAGES_PATH.removeprefix("/api/v1") + "{name}",
    summary="A guide step image",
    description="Public: the names are listed in the guides' steps.",
    response_class=Response,
    responses={200: {"content": {"image/*": {}}}},
)
def read_guide_image(context: ContextDep, name: ImageName) -> Response:
    content_type = content_type_of_extension(name.rsplit(".", 1)[1])
    if content_type is None:  # unreachable while GUIDE_IMAGE_NAME lists known extensions
        raise ProblemError(404, f"Guide image {name} does not exist.", slug="not-found")
    prefix = context.settings.s3_prefix if context.image_store.kind == "s3" else ""
    try:
        data = context.image_store.get(guide_image_key(name, prefix=prefix))
    except Exception as exc:  # noqa: BLE001 - boto3 and the file system raise many kinds
        if _is_missing(exc):
            raise ProblemError(
                404, f"Guide image {name} does not exist.", slug="not-found"
            ) from None
        log.warning("guide image read failed", extra={"error": type(exc).__name__, "name": name})
        raise ProblemError(
            503, "The guide image cannot be read right now.", slug="storage-unavailable"
        ) from None
    return Response(
        data,
        media_type=content_type,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": CACHE_FOREVER},
    )
