"""All routers of the API: /api/v1 for the product, the operations endpoints at the root."""

from __future__ import annotations

from fastapi import APIRouter

from repairgpt.api.routes import chat, devices, guide_images, guides, ops, uploads
from repairgpt.web.routes import build_page_router

API_ROOT = "/api"
API_PREFIX = f"{API_ROOT}/v1"

api_router = APIRouter(prefix=API_PREFIX)
api_router.include_router(devices.router)
api_router.include_router(guides.router)
api_router.include_router(guide_images.router)
api_router.include_router(chat.router)
api_router.include_router(uploads.router)

# Outside /api/v1: the operations endpoints, and the chat page at / with its /assets/.
ops_router = APIRouter()
ops_router.include_router(ops.router)
ops_router.include_router(build_page_router(API_PREFIX))
