"""Tests that start ActivityHub's real processes (see processes.py)."""

from .processes import migrated_database, redis_prefix, system  # noqa: F401 - fixtures for this directory
