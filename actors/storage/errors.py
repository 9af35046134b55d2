"""Storage errors, with messages that say what to do."""

from __future__ import annotations


class StorageError(Exception):
    """Base class for storage failures."""


class EmbeddedPostgresError(StorageError):
    """The embedded PostgreSQL (pgserver) could not start."""


class DatabaseUnavailable(StorageError):
    """The database could not be reached or answered with a transient failure."""


class DatabaseTimeout(DatabaseUnavailable):
    """A database call exceeded its bound (the pool may have been terminated)."""


class PoolExhausted(DatabaseUnavailable):
    """No connection became free within the acquire timeout."""


class MigrationError(StorageError):
    """The schema history does not match the migration files."""
