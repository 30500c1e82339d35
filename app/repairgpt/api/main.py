"""All routers of the API: /api/v1 for the product, the operations endpoints at the root."""

from __future__ import annotations

from fastapi import APIRouter

from repairgpt.api.routes import chat, devices, guides, ops, uploads

API_PREFIX = "/api/v1"

api_router = APIRouter(prefix=API_PREFIX)
api_router.include_router(devices.router)
api_router.include_router(guides.router)
api_router.include_router(chat.router)
api_router.include_router(uploads.router)

ops_router = ops.router
