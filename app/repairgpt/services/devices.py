"""Device lookup: list and search by name, brand, model, category or any alias (Japanese too)."""

from __future__ import annotations

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.orm import Session

from repairgpt.models import Device


def search_devices(
    *, session: Session, q: str | None, category: str | None, limit: int, offset: int
) -> tuple[list[Device], int]:
    """Devices matching `q` (case-insensitive substring) and `category`, ordered by name."""
    statement = select(Device)
    if q and q.strip():
        needle = q.strip().lower()
        statement = statement.where(
            or_(
                *(
                    func.lower(column).contains(needle, autoescape=True)
                    for column in (
                        Device.name,
                        Device.slug,
                        Device.brand,
                        Device.model,
                        Device.category,
                        cast(Device.aliases, Text),
                    )
                )
            )
        )
    if category and category.strip():
        statement = statement.where(func.lower(Device.category) == category.strip().lower())
    count = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    rows = session.scalars(statement.order_by(Device.name, Device.id).limit(limit).offset(offset))
    return list(rows), count
