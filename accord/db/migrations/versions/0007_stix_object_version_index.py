"""stix_object: the version key becomes a unique index (was a table constraint)

A bulk load into an empty store drops every secondary index and builds it once at the end; SQLite
cannot drop the index behind a table constraint, so the key is declared as a unique index instead.
SQLite cannot drop a table constraint either: the table is rebuilt as SQLite documents it (new
table, copy, drop, rename) with foreign keys off (`Database.migrate` turns them off), so the
observables and overlaps that point at stix_object rows are kept, not cascaded away.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

import re

from alembic import op
from sqlalchemy.engine import Connection

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = ["stix_id", "modified_us", "producer_org_id"]
CONSTRAINT = re.compile(r",\s*CONSTRAINT uq_stix_object_version UNIQUE \(stix_id, modified_us, producer_org_id\)")


def _rebuild_sqlite(bind: Connection, change_table_sql: "re.Pattern[str] | str") -> None:
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("rebuilding stix_object needs foreign keys off (use Database.migrate)")
    table_sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'stix_object'"
    ).scalar_one()
    index_sql = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'stix_object'"
        " AND sql IS NOT NULL AND name <> 'uq_stix_object_version'"
    ).scalars().all()
    if isinstance(change_table_sql, str):
        new_sql = table_sql.rstrip().removesuffix(")").rstrip() + change_table_sql + "\n)"
    else:
        new_sql = change_table_sql.sub("", table_sql)
        if new_sql == table_sql:
            raise RuntimeError("stix_object has no uq_stix_object_version constraint to replace")
    # After an earlier rebuild SQLite keeps the renamed table's name quoted.
    new_sql, renamed = re.subn(r'^CREATE TABLE "?stix_object"?', "CREATE TABLE _stix_object_new", new_sql)
    if renamed != 1:
        raise RuntimeError("unexpected stix_object table definition")
    bind.exec_driver_sql(new_sql)
    bind.exec_driver_sql("INSERT INTO _stix_object_new SELECT * FROM stix_object")
    bind.exec_driver_sql("DROP TABLE stix_object")
    bind.exec_driver_sql("ALTER TABLE _stix_object_new RENAME TO stix_object")
    for sql in index_sql:
        bind.exec_driver_sql(sql)


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        _rebuild_sqlite(bind, CONSTRAINT)
    else:
        op.drop_constraint("uq_stix_object_version", "stix_object", type_="unique")
    op.create_index("uq_stix_object_version", "stix_object", COLUMNS, unique=True)


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_index("uq_stix_object_version", table_name="stix_object")
    if bind.dialect.name == "sqlite":
        _rebuild_sqlite(bind, ", \n\tCONSTRAINT uq_stix_object_version UNIQUE (stix_id, modified_us, producer_org_id)")
    else:
        op.create_unique_constraint("uq_stix_object_version", "stix_object", COLUMNS)
