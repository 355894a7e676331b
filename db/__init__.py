"""The store: SQLAlchemy models, Alembic migrations, sessions, bulk writes, read-only SQL, export."""
