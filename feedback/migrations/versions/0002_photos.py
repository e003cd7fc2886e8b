"""photos: a sample cut from a photo keeps the photo (stored once) and its box

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "photos",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("samples") as batch:  # batch mode: SQLite cannot add a foreign key in place
        batch.add_column(sa.Column("photo_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("box", sa.JSON(), nullable=True))
        batch.create_foreign_key("fk_samples_photo_id", "photos", ["photo_id"], ["id"], ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("samples") as batch:
        batch.drop_constraint("fk_samples_photo_id", type_="foreignkey")
        batch.drop_column("box")
        batch.drop_column("photo_id")
    op.drop_table("photos")
