"""Real servers the tests run against (PostgreSQL; more to come)."""

from __future__ import annotations
