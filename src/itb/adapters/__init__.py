"""Adapters to the outside world: the database (SQLAlchemy, Alembic)."""
