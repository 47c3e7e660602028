"""The migrations build exactly the schema the code declares (no drift), on both engines."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from accord.db.schema import metadata

pytestmark = pytest.mark.store


def test_migrated_schema_matches_the_declared_one(accord: Any) -> None:
    with accord.db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_init_is_idempotent(accord: Any) -> None:
    first = accord.db.revision()
    assert accord.init() == first == "0001"
