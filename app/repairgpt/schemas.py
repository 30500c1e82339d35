"""Request and response bodies of the REST API."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

MAX_DB_INT = 2**31 - 1


def _reject_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refusing it here turns a 500 into a clear 422.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


SafeStr = Annotated[str, AfterValidator(_reject_nul)]
DbId = Annotated[int, Field(ge=1, le=MAX_DB_INT)]
Difficulty = Literal["very_easy", "easy", "moderate", "difficult", "very_difficult"]
Language = Literal["en", "ja"]
ShortText = Annotated[SafeStr, Field(min_length=1, max_length=500)]

# Step images: an https:// URL (shown as a link) or an image served by this API, which must
# match the public route in api/routes/guide_images.py.
GUIDE_IMAGES_PATH = "/api/v1/guide-images/"
GUIDE_IMAGE_NAME = r"[0-9a-f]{32}\.(?:jpg|png|gif|webp)"
MAX_STEP_IMAGES = 10
MAX_IMAGE_URL_LENGTH = 1000
_SAME_ORIGIN_IMAGE = re.compile(re.escape(GUIDE_IMAGES_PATH) + GUIDE_IMAGE_NAME)
_EXTERNAL_IMAGE = re.compile(r"https://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[\x21-\x7e]*)?")


def is_step_image(value: str) -> bool:
    """Whether `value` may be a step image: a same-origin guide image or an https:// URL."""
    if len(value) > MAX_IMAGE_URL_LENGTH:
        return False
    return bool(_SAME_ORIGIN_IMAGE.fullmatch(value) or _EXTERNAL_IMAGE.fullmatch(value))


def _check_step_image(value: str) -> str:
    if not is_step_image(value):
        raise ValueError(
            f"must be an https:// URL or a path under {GUIDE_IMAGES_PATH} "
            f"(at most {MAX_IMAGE_URL_LENGTH} characters)"
        )
    return value


StepImage = Annotated[
    str, Field(max_length=MAX_IMAGE_URL_LENGTH), AfterValidator(_check_step_image)
]
StepImages = Annotated[list[StepImage], Field(max_length=MAX_STEP_IMAGES)]


class Problem(BaseModel):
    """An RFC 9457 problem detail; every error of the API has this shape."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


# Devices


class DevicePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    name: str
    category: str | None
    brand: str | None
    model: str | None
    aliases: list[str]


class DevicesPublic(BaseModel):
    data: list[DevicePublic]
    count: int


# Guides


class GuideStepIn(BaseModel):
    title: Annotated[SafeStr, Field(max_length=500)] = ""
    text: Annotated[SafeStr, Field(min_length=1, max_length=20_000)]
    images: StepImages = []


class GuideStepPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    position: int
    title: str
    text: str
    images: list[str] = []


# The fields of a guide's body, the same on create (GuideBase) and on update (GuideUpdate).
GuideTitle = Annotated[SafeStr, Field(min_length=1, max_length=500)]
GuideSummary = Annotated[SafeStr, Field(max_length=5_000)]
TimeMinutes = Annotated[int, Field(ge=0, le=100_000)]
ShortTexts = Annotated[list[ShortText], Field(max_length=100)]
SafetyWarnings = Annotated[list[Annotated[SafeStr, Field(max_length=2_000)]], Field(max_length=50)]
GuideSteps = Annotated[list[GuideStepIn], Field(max_length=200)]
SourceUrl = Annotated[SafeStr, Field(max_length=1000)]
LicenseName = Annotated[SafeStr, Field(max_length=100)]


class GuideBase(BaseModel):
    title: GuideTitle
    summary: GuideSummary = ""
    language: Language = "en"
    difficulty: Difficulty | None = None
    time_minutes: TimeMinutes | None = None
    tools: ShortTexts = []
    parts: ShortTexts = []
    safety_warnings: SafetyWarnings = []
    keywords: ShortTexts = []
    steps: GuideSteps = []
    source_url: SourceUrl | None = None
    license: LicenseName | None = None


class GuideCreate(GuideBase):
    device_id: DbId
    source: Annotated[SafeStr, Field(min_length=1, max_length=50)] = "repairgpt"
    source_id: Annotated[SafeStr, Field(min_length=1, max_length=200)] | None = None


class GuideUpdate(BaseModel):
    """A partial update: only the fields present in the body change."""

    device_id: DbId | None = None
    title: GuideTitle | None = None
    summary: GuideSummary | None = None
    language: Language | None = None
    difficulty: Difficulty | None = None
    time_minutes: TimeMinutes | None = None
    tools: ShortTexts | None = None
    parts: ShortTexts | None = None
    safety_warnings: SafetyWarnings | None = None
    keywords: ShortTexts | None = None
    steps: GuideSteps | None = None
    source_url: SourceUrl | None = None
    license: LicenseName | None = None
    is_active: bool | None = None


class GuidePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    device: DevicePublic
    title: str
    summary: str
    language: str
    difficulty: str | None
    time_minutes: int | None
    tools: list[str]
    parts: list[str]
    safety_warnings: list[str]
    keywords: list[str]
    steps: list[GuideStepPublic]
    source: str
    source_id: str | None
    source_url: str | None
    license: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class GuideHit(BaseModel):
    """One ranked search result."""

    id: int
    title: str
    source_id: str | None
    score: float
    snippet: str
    summary: str
    language: str
    device: str
    difficulty: str | None
    time_minutes: int | None
    source_url: str | None


class GuideHitsPublic(BaseModel):
    data: list[GuideHit]
    count: int


# Chat


class ChatSessionCreate(BaseModel):
    title: Annotated[SafeStr, Field(max_length=200)] | None = None


class ChatSessionCreated(BaseModel):
    id: str
    token: str = Field(description="Bearer token for this session; shown once, stored hashed.")
    created_at: datetime


class ChatMessageCreate(BaseModel):
    content: Annotated[SafeStr, Field(min_length=1, max_length=4_000)]


class CitationPublic(BaseModel):
    guide_id: int
    source_id: str | None
    title: str
    url: str | None


class ChatAnswer(BaseModel):
    session_id: str
    answer: str
    citations: list[CitationPublic]
    language: str
    engine: str
    saved: bool = Field(description="False when the API runs read-only and kept no history.")
    note: str | None = None
    message_id: int | None = None


class ChatMessagePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    role: str
    content: str
    citations: list[dict[str, Any]]
    language: str | None
    engine: str | None
    created_at: datetime


class ChatMessagesPublic(BaseModel):
    data: list[ChatMessagePublic]
    count: int


# Uploads


class UploadPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    session_id: str | None
    filename: str | None
    content_type: str
    size_bytes: int
    sha256: str
    storage: str
    created_at: datetime


# Operations


class HealthStatus(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyStatus(BaseModel):
    status: Literal["ready", "degraded", "not_ready"]
    # Left out for callers outside the cluster (requests forwarded by a proxy).
    checks: dict[str, str] | None = None
    guides: int | None = None
