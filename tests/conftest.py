"""Shared fixtures: an `Accord` on a fresh database (SQLite, or PostgreSQL when
ACCORD_TEST_DATABASE_URL is set, each test in its own schema), and a small alliance builder."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from accord.app import Accord
from accord.members.model import OPERATOR, Viewer
from accord.settings import Settings

PG_URL = os.environ.get("ACCORD_TEST_DATABASE_URL", "")
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def shared_data(*parts: str) -> Path:
    """A path in ../shared/data; the calling test is skipped cleanly when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"corpus not available: {path}")
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`slow` tests run only with ACCORD_SLOW=1: deselected (not skipped) otherwise."""
    if os.environ.get("ACCORD_SLOW") == "1":
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    if not PG_URL:
        yield f"sqlite:///{tmp_path / 'accord.sqlite3'}"
        return
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def make_accord(tmp_path: Path, database_url: str) -> Iterator[Any]:
    made: list[Accord] = []

    def make(**overrides: Any) -> Accord:
        settings = Settings(database_url=database_url, data_dir=str(tmp_path / "data"), **overrides)
        app = Accord(settings)
        app.init()
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


@pytest.fixture
def accord(make_accord: Any) -> Accord:
    return make_accord()  # type: ignore[no-any-return]


@dataclass
class Alliance:
    """A small alliance built through the public services, with viewers ready to use."""

    app: Accord
    orgs: dict[str, int] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    groups: dict[str, int] = field(default_factory=dict)

    def org(self, name: str, sector: str = "csirt", country: str = "PL", pending: bool = False) -> int:
        with self.app.db.write() as conn:
            self.orgs[name] = self.app.members.add_org(conn, OPERATOR, name, sector, country, pending)
        return self.orgs[name]

    def user(
        self,
        email: str,
        org: str,
        role: str = "analyst",
        password: str | None = None,
        platform_admin: bool = False,
    ) -> int:
        with self.app.db.write() as conn:
            self.users[email] = self.app.members.add_user(
                conn, OPERATOR, email, self.orgs[org], role, password=password, platform_admin=platform_admin
            )
        return self.users[email]

    def group(self, name: str, owner: str, members: list[str]) -> int:
        with self.app.db.write() as conn:
            self.groups[name] = self.app.members.add_group(
                conn, OPERATOR, name, self.orgs[owner], [self.orgs[m] for m in members]
            )
        return self.groups[name]

    def viewer(self, email: str, org: str | None = None) -> Viewer:
        return self.app.viewer(email, org)

    def token(self, email: str, org: str | None = None, scopes: str | None = None) -> str:
        with self.app.db.write() as conn:
            return self.app.members.create_token(
                conn, OPERATOR, self.users[email], self.orgs[org] if org else None, scopes=scopes
            ).token


@pytest.fixture
def alliance(accord: Accord) -> Alliance:
    return Alliance(accord)
