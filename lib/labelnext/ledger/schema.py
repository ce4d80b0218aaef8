"""The ledger's tables as the queries see them: the head revision of the migrations.

A test compares these definitions with the schema the migrations in ``migrations/`` create, so the
two cannot drift apart.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

__all__ = [
    "ACTION_KINDS",
    "ACTION_ORIGINS",
    "BATCH_STATUSES",
    "MIGRATIONS_DIR",
    "OPEN_BATCH_STATUSES",
    "ROW_STATUSES",
    "SCHEMA_HEAD",
    "actions",
    "batch_rows",
    "batches",
    "labels",
    "metadata",
    "model_runs",
    "projects",
]

BATCH_STATUSES = ("queued", "exported", "labeled", "cancelled")
OPEN_BATCH_STATUSES = ("queued", "exported")
ROW_STATUSES = ("open", "labeled", "cancelled")
ACTION_KINDS = (
    "submit",
    "mark_labeled",
    "cancel",
    "reopen",
    "unmark",
    "export",
    "import_labels",
)
ACTION_ORIGINS = ("app", "cli", "library")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SCHEMA_HEAD = "0005"  # the newest revision in migrations/versions (a test keeps them in step)

metadata = sa.MetaData()
OPEN_ROWS = sa.text("status = 'open'")  # the partial index's condition
CURRENT_LABELS = sa.text("superseded_at IS NULL")  # one current label per row and project
LABEL_TASKS = ("classification", "multilabel", "detection")

projects = sa.Table(
    "projects",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)

model_runs = sa.Table(
    "model_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(500), nullable=False),
    sa.Column("model", sa.String(500)),
    sa.Column("version", sa.String(200)),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("row_count", sa.Integer, nullable=False),
)

batches = sa.Table(
    "batches",
    metadata,
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
    sa.Column("note", sa.Text, nullable=False, server_default=""),
    sa.Column("task", sa.String(16), nullable=False, server_default="classification"),
    sa.Column("classes", sa.Text, nullable=False, server_default="[]"),
    sa.Column("method", sa.String(32), nullable=False, server_default="top"),
    sa.Column("method_params", sa.Text, nullable=False, server_default="{}"),
    sa.Column("embedding_source", sa.String(200)),
    sa.CheckConstraint("priority BETWEEN 1 AND 5", name="ck_batches_priority"),
    sa.CheckConstraint(
        "status IN ('queued', 'exported', 'labeled', 'cancelled')", name="ck_batches_status"
    ),
    sa.Index("ix_batches_project", "project_id", "created_at"),
)

batch_rows = sa.Table(
    "batch_rows",
    metadata,
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
    sa.Column("image", sa.Text),
    sa.Column("labeled_at", sa.DateTime(timezone=True)),
    sa.Column("prediction", sa.Text),
    sa.CheckConstraint("status IN ('open', 'labeled', 'cancelled')", name="ck_batch_rows_status"),
    sa.Index("ix_batch_rows_batch", "batch_id", "rank"),
    sa.Index("ix_batch_rows_project_row", "project_id", "data_row_id"),
    sa.Index(
        "uq_batch_rows_open_row",
        "project_id",
        "data_row_id",
        unique=True,
        sqlite_where=OPEN_ROWS,
        postgresql_where=OPEN_ROWS,
    ),
)

actions = sa.Table(
    "actions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("batches.id")),  # NULL: rows in no batch
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("actor", sa.String(200)),
    sa.Column("origin", sa.String(16), nullable=False),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("details", sa.Text, nullable=False),
    sa.Column("reverted_by", sa.Integer, sa.ForeignKey("actions.id")),
    sa.CheckConstraint(
        "kind IN ('submit', 'mark_labeled', 'cancel', 'reopen', 'unmark', 'export', "
        "'import_labels')",
        name="ck_actions_kind",
    ),
    sa.CheckConstraint("origin IN ('app', 'cli', 'library')", name="ck_actions_origin"),
    sa.Index("ix_actions_batch", "batch_id", "id"),
    sa.Index("ix_actions_project", "project_id", "id"),
)

labels = sa.Table(
    "labels",
    metadata,
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
    sa.Index("ix_labels_project_row", "project_id", "data_row_id", "id"),
    sa.Index("ix_labels_batch", "batch_id"),
    sa.Index(
        "uq_labels_current_row",
        "project_id",
        "data_row_id",
        unique=True,
        sqlite_where=CURRENT_LABELS,
        postgresql_where=CURRENT_LABELS,
    ),
)
