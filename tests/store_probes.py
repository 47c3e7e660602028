"""Looking inside the store's write transaction while an import runs (tests of the bulk load)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from accord import db as db_module
from accord.intel.store import IntelStore

T = TypeVar("T")


def seen_inside_store(monkeypatch: pytest.MonkeyPatch, method: str, probe: Callable[[Any], T]) -> list[T]:
    """What `probe(conn)` answers each time `IntelStore.<method>(self, conn, ...)` runs, in order.
    Small test files count as bulk loads meanwhile."""
    seen: list[T] = []
    original = getattr(IntelStore, method)

    def recording(self: IntelStore, conn: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(probe(conn))
        return original(self, conn, *args, **kwargs)

    monkeypatch.setattr(IntelStore, method, recording)
    monkeypatch.setattr(db_module, "REBUILD_MIN_ROWS", 2)
    return seen
