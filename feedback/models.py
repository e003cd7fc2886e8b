"""Tables of the corrections store (SQLAlchemy 2.0 typed models).

    Photo       a whole photo that samples were cut from (downscaled PNG, stored once), for the moderator's context
    Sample      one image of one task, stored once (normalized PNG, SHA-256 of those bytes); a region of a photo
                also keeps the photo and its box there
    Label       one text proposed for a sample: a count of how often, and a review state
    Submission  one user action (a correction or a confirmation) with what the model predicted

A sample with more than one non-rejected Label is a conflict, settled by review.
"""
from __future__ import annotations

import datetime as dt
from typing import Optional

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

STATES = ("pending", "accepted", "rejected")

def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)

class Base(DeclarativeBase):
    pass

class Photo(Base):
    __tablename__ = "photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    png: Mapped[bytes] = mapped_column(LargeBinary)  # normalized PNG, scaled down as samples are
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Sample(Base):
    __tablename__ = "samples"
    __table_args__ = (UniqueConstraint("task", "sha256", name="uq_samples_task_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(16), index=True)
    sha256: Mapped[str] = mapped_column(String(64))
    png: Mapped[bytes] = mapped_column(LargeBinary)  # normalized PNG (EXIF-rotated, mode L or RGB)
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # a region of a photo: the photo and the region's box (x0, y0, x1, y1) in the stored photo's pixels
    photo_id: Mapped[Optional[int]] = mapped_column(ForeignKey("photos.id", ondelete="SET NULL"), nullable=True)
    box: Mapped[Optional[list]] = mapped_column(JSON, nullable=True)

    labels: Mapped[list["Label"]] = relationship(back_populates="sample", cascade="all, delete-orphan")

class Label(Base):
    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("sample_id", "text", name="uq_labels_sample_text"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)

    sample: Mapped[Sample] = relationship(back_populates="labels")

class Submission(Base):
    __tablename__ = "submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    sample_id: Mapped[int] = mapped_column(ForeignKey("samples.id", ondelete="CASCADE"), index=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"), index=True)
    model_id: Mapped[str] = mapped_column(String(200))
    model_version: Mapped[str] = mapped_column(String(200))
    prediction: Mapped[str] = mapped_column(Text)
    confidence: Mapped[float] = mapped_column(Float)
    char_confidences: Mapped[list] = mapped_column(JSON)
    corrected_text: Mapped[str] = mapped_column(Text)
    confirmed: Mapped[bool] = mapped_column(Boolean)  # True: "the prediction is right"
    client_id: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    undone_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True), nullable=True)


VERSION_STATES = ("candidate", "promoted", "refused", "rolled back")
JOB_STATES = ("queued", "running", "finished", "failed", "cancelled", "interrupted")


class ModelVersion(Base):
    """One model file the loop made or started from. The reading model of a task is its promoted version with
    the latest `promoted_at`; rolling back promotes an earlier one again (its `promoted_at` becomes now)."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("task", "sha256", name="uq_model_versions_task_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(16), index=True)
    sha256: Mapped[str] = mapped_column(String(64))          # of the model file
    path: Mapped[str] = mapped_column(Text)                  # relative to the versions folder, or absolute
    parent_sha256: Mapped[Optional[str]] = mapped_column(String(64), nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="candidate", index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    promoted_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True), nullable=True)
    corrections: Mapped[int] = mapped_column(Integer, default=0)   # corrections it was trained on
    info: Mapped[dict] = mapped_column(JSON, default=dict)          # data mix, correction ids, gate figures, checks
    job_id: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)


class TrainingJob(Base):
    """A fine-tune started from the page (or its automatic trigger), run by a separate process."""

    __tablename__ = "training_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(16), index=True)
    state: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    settings: Mapped[dict] = mapped_column(JSON, default=dict)
    step: Mapped[int] = mapped_column(Integer, default=0)
    steps: Mapped[int] = mapped_column(Integer, default=0)
    phase: Mapped[str] = mapped_column(String(64), default="")     # what it does now, for the progress bar
    message: Mapped[str] = mapped_column(Text, default="")          # the outcome, one line
    pid: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    version_id: Mapped[Optional[int]] = mapped_column(Integer, nullable=True)
    trigger: Mapped[str] = mapped_column(String(16), default="moderator")  # moderator | automatic | cli
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[Optional[dt.datetime]] = mapped_column(DateTime(timezone=True), nullable=True)
