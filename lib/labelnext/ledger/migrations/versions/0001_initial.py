"""First ledger schema: projects, model runs, batches, batch rows.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "model_runs",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("model", sa.String(500)),
        sa.Column("version", sa.String(200)),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("row_count", sa.Integer, nullable=False),
    )
    op.create_table(
        "batches",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(500), nullable=False),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("strategy", sa.String(100), nullable=False),
        sa.Column("strategy_params", sa.Text, nullable=False),
        sa.Column("model_run_id", sa.Integer, sa.ForeignKey("model_runs.id")),
        sa.Column("client_token", sa.String(200), unique=True),
        sa.CheckConstraint("priority BETWEEN 1 AND 5", name="ck_batches_priority"),
        sa.CheckConstraint(
            "status IN ('queued', 'exported', 'labeled', 'cancelled')", name="ck_batches_status"
        ),
    )
    op.create_index("ix_batches_project", "batches", ["project_id", "created_at"])
    op.create_table(
        "batch_rows",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "batch_id", sa.Integer, sa.ForeignKey("batches.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
        sa.Column("data_row_id", sa.String(500), nullable=False),
        sa.Column("rank", sa.Integer, nullable=False),
        sa.Column("score", sa.Float),
        sa.Column("confidence", sa.Float),
        sa.Column("predicted_label", sa.String(500)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'labeled', 'cancelled')", name="ck_batch_rows_status"
        ),
    )
    op.create_index("ix_batch_rows_batch", "batch_rows", ["batch_id", "rank"])
    op.create_index("ix_batch_rows_project_row", "batch_rows", ["project_id", "data_row_id"])
    # The invariant: a data row is in at most one open batch per project.
    op.create_index(
        "uq_batch_rows_open_row",
        "batch_rows",
        ["project_id", "data_row_id"],
        unique=True,
        sqlite_where=OPEN,
        postgresql_where=OPEN,
    )


def downgrade() -> None:
    op.drop_table("batch_rows")
    op.drop_table("batches")
    op.drop_table("model_runs")
    op.drop_table("projects")
