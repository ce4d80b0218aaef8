"""Labels come back: what the labeling team gave each row, with who, when and from which file.

``labels`` holds one row per label imported for a data row of a project: the label as JSON text
(``label``, see :func:`labelnext.labels.label_to_json`) and its ``task``, the batch the row was in
(``batch_id``, NULL for a row imported outside every batch, which needs an explicit flag), who
labeled it and when (``labeled_by``, ``labeled_at``: what the file says), the file and its row
(``source``, ``source_row``, ``source_format``), and the import (``imported_at``,
``imported_by``, ``origin``, ``action_id``). A row labeled again keeps its earlier labels as
history: they get ``superseded_at`` and ``superseded_by``; a partial unique index lets each row
of a project have one current label.

``actions`` gains the kind ``import_labels`` (one action per batch an import touches, and one
with no batch for rows imported outside every batch), so its ``batch_id`` may now be NULL.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_KINDS_0003 = "kind IN ('submit', 'mark_labeled', 'cancel', 'reopen', 'unmark', 'export')"
_KINDS_0005 = (
    "kind IN ('submit', 'mark_labeled', 'cancel', 'reopen', 'unmark', 'export', 'import_labels')"
)
_CURRENT = sa.text("superseded_at IS NULL")


def _actions_0003() -> sa.Table:
    """The actions table as 0003 made it (SQLite rebuilds the table from this definition)."""
    return sa.Table(
        "actions",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("batches.id"), nullable=False),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200)),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("details", sa.Text, nullable=False),
        sa.Column("reverted_by", sa.Integer, sa.ForeignKey("actions.id")),
        sa.CheckConstraint(_KINDS_0003, name="ck_actions_kind"),
        sa.CheckConstraint("origin IN ('app', 'cli', 'library')", name="ck_actions_origin"),
        sa.Index("ix_actions_batch", "batch_id", "id"),
        sa.Index("ix_actions_project", "project_id", "id"),
    )


def upgrade() -> None:
    with op.batch_alter_table("actions", copy_from=_actions_0003()) as batch:
        batch.alter_column("batch_id", existing_type=sa.Integer, nullable=True)
        batch.drop_constraint("ck_actions_kind", type_="check")
        batch.create_check_constraint("ck_actions_kind", _KINDS_0005)
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("data_row_id", sa.String(500), nullable=False),
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("batches.id")),
        sa.Column("task", sa.String(16), nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("labeled_by", sa.String(200)),
        sa.Column("labeled_at", sa.DateTime(timezone=True)),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("source_row", sa.Integer),
        sa.Column("source_format", sa.String(16), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(200)),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("action_id", sa.Integer, sa.ForeignKey("actions.id")),
        sa.Column("superseded_at", sa.DateTime(timezone=True)),
        sa.Column("superseded_by", sa.Integer, sa.ForeignKey("labels.id")),
        sa.CheckConstraint(
            "task IN ('classification', 'multilabel', 'detection')", name="ck_labels_task"
        ),
    )
    op.create_index("ix_labels_project_row", "labels", ["project_id", "data_row_id", "id"])
    op.create_index("ix_labels_batch", "labels", ["batch_id"])
    op.create_index(
        "uq_labels_current_row",
        "labels",
        ["project_id", "data_row_id"],
        unique=True,
        sqlite_where=_CURRENT,
        postgresql_where=_CURRENT,
    )


def downgrade() -> None:
    op.drop_table("labels")
    op.execute("DELETE FROM actions WHERE kind = 'import_labels'")
    with op.batch_alter_table("actions") as batch:
        batch.drop_constraint("ck_actions_kind", type_="check")
        batch.create_check_constraint("ck_actions_kind", _KINDS_0003)
        batch.alter_column("batch_id", existing_type=sa.Integer, nullable=False)
