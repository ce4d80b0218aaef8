"""What exports and later rounds need from a batch: each row's prediction, the run's task and
classes, and how the batch was picked.

* ``batch_rows.prediction``: the row's prediction record at selection time (JSON text; see
  :mod:`labelnext.export.records`), so a batch exports its boxes and multi-label classes to the
  labeling tools without the run file.
* ``batches.task`` and ``batches.classes`` (a JSON list): the run's task and class list.
* ``batches.method``, ``batches.method_params`` (JSON) and ``batches.embedding_source``: the
  batch method (top, diverse, cluster, typical, auto), its parameters and seed, and which
  embedding it used.

Existing batches keep their data: their rows get no record (they export as classification from
``predicted_label``), ``task`` becomes ``classification``, ``classes`` ``[]``, ``method`` ``top``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batch_rows") as batch:
        batch.add_column(sa.Column("prediction", sa.Text))
    with op.batch_alter_table("batches") as batch:
        batch.add_column(
            sa.Column("task", sa.String(16), nullable=False, server_default="classification")
        )
        batch.add_column(sa.Column("classes", sa.Text, nullable=False, server_default="[]"))
        batch.add_column(sa.Column("method", sa.String(32), nullable=False, server_default="top"))
        batch.add_column(sa.Column("method_params", sa.Text, nullable=False, server_default="{}"))
        batch.add_column(sa.Column("embedding_source", sa.String(200)))


def downgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        for column in ("embedding_source", "method_params", "method", "classes", "task"):
            batch.drop_column(column)
    with op.batch_alter_table("batch_rows") as batch:
        batch.drop_column("prediction")
