"""Alembic migrations of the RepairGPT schema, shipped inside the package."""
