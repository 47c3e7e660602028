"""PostgreSQL sessions run with JIT compilation off: it compiled every policy-filtered query on a
large store before running it (50-70 ms of compiling for a 1-3 ms lookup)."""

from __future__ import annotations

import pytest

from accord.app import Accord
from accord.db import Database
from accord.db.engine import make_engine


@pytest.mark.parametrize(
    ("url", "options"),
    [
        ("postgresql+psycopg://u@127.0.0.1/db", "-c jit=off"),
        ("postgresql://u@127.0.0.1/db", "-c jit=off"),
        # The test suite's own schema option (and any other) is kept.
        ("postgresql+psycopg://u@127.0.0.1/db?options=-csearch_path%3Dt_1", "-csearch_path=t_1 -c jit=off"),
        # An operator who says otherwise is obeyed.
        ("postgresql+psycopg://u@127.0.0.1/db?options=-c%20jit%3Don", "-c jit=on"),
        ("postgresql+psycopg://u@127.0.0.1/db?options=-cjit%3Don", "-cjit=on"),
        # A name that merely contains "jit" is not a jit setting.
        ("postgresql+psycopg://u@127.0.0.1/db?options=-csearch_path%3Djit", "-csearch_path=jit -c jit=off"),
    ],
)
def test_the_session_options_a_url_gets(url: str, options: str) -> None:
    engine = make_engine(url)  # no connection is made here
    assert engine.url.query["options"] == options
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()


@pytest.mark.store
def test_a_session_runs_without_jit_across_transactions(accord: Accord, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's setting")
    db: Database = accord.db
    for _ in range(2):  # a rolled-back transaction does not bring it back (it is set at connect)
        with db.read() as conn:
            assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
            conn.rollback()
    with db.write() as conn:
        assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
