"""Batch notes, the image reference of each batch row, and when a row was labeled.

Exports need the image of each row as it was at selection time; ``labeled_at`` records when a row
was marked labeled. Existing batches get an empty note; existing rows get no image and, if already
labeled, no labeling time (it was not recorded before this revision).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("batches") as batch:
        batch.add_column(sa.Column("note", sa.Text, nullable=False, server_default=""))
    with op.batch_alter_table("batch_rows") as batch:
        batch.add_column(sa.Column("image", sa.Text))
        batch.add_column(sa.Column("labeled_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("batch_rows") as batch:
        batch.drop_column("labeled_at")
        batch.drop_column("image")
    with op.batch_alter_table("batches") as batch:
        batch.drop_column("note")
