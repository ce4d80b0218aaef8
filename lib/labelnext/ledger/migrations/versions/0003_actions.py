"""Every write recorded as an action, so that cancel and mark-labeled can be reverted.

``actions`` holds one row per change of a batch: ``kind`` (submit, mark_labeled, cancel, reopen,
unmark, export), who (``actor``, NULL when the caller did not say), from where (``origin``: app,
cli, library), when (``at``), ``details`` (JSON text: the data_row_ids a mark or cancel changed,
the row count, the batch status before and after) and ``reverted_by`` (the action that undid it).
Existing batches get no actions: their history before this revision was not recorded (the
batches table still says who submitted them and when); a batch cancelled before it can still be
reopened, as its freed rows are the ones with status ``cancelled``.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "actions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("batches.id"), nullable=False),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("reverted_by", sa.Integer, sa.ForeignKey("actions.id")),
        sa.CheckConstraint(
            "kind IN ('submit', 'mark_labeled', 'cancel', 'reopen', 'unmark', 'export')",
            name="ck_actions_kind",
        ),
        sa.CheckConstraint("origin IN ('app', 'cli', 'library')", name="ck_actions_origin"),
    )
    op.create_index("ix_actions_batch", "actions", ["batch_id", "id"])
    op.create_index("ix_actions_project", "actions", ["project_id", "id"])


def downgrade() -> None:
    op.drop_table("actions")
