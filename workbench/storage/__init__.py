"""Persistence: SQLAlchemy models, sessions, CRUD functions and Alembic migrations."""
