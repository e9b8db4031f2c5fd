"""Key cached analyses by the newest close too, so moving prices never keep stale words.

The cache is rebuilt from scratch: its rows are only a saving, never data.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _create_analyses(with_close: bool) -> None:
    columns: list[sa.schema.SchemaItem] = [
        sa.Column("window", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("model", sa.String(length=64), nullable=False),
        sa.Column("newest_at", sa.DateTime(timezone=True), nullable=False),
    ]
    key = ["window", "language", "model", "newest_at"]
    if with_close:
        columns.append(sa.Column("newest_close", sa.Float(), nullable=False))
        key.append("newest_close")
    op.create_table(
        "analyses",
        *columns,
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("analyst", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_analyses")),
    )


def upgrade() -> None:
    """Recreate the analyses table with the newest close in its key."""
    op.drop_table("analyses")
    _create_analyses(with_close=True)


def downgrade() -> None:
    """Recreate the analyses table keyed as before."""
    op.drop_table("analyses")
    _create_analyses(with_close=False)
