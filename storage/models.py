"""The tables Bitcoin Analyzer stores, declared once for SQLite and PostgreSQL alike.

Every timestamp is stored as UTC. SQLite keeps no time zone, so ``UtcDateTime`` writes naive
UTC and hands back aware UTC datetimes on both databases. Constraint names follow one naming
convention so that migrations can refer to them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import BigInteger, Boolean, Date, DateTime, Float, Index, MetaData, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that goes in and comes out as aware UTC, whatever the database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes, and give SQLite the naive UTC it can compare."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where an aware UTC one is required")

        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Mark what the database returns as UTC."""
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """The declarative base of every table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class PriceRow(Base):
    """One candle; the primary key is the unique key that upserts rely on."""

    __tablename__ = "prices"

    symbol: Mapped[str] = mapped_column(String(16), primary_key=True)
    interval: Mapped[str] = mapped_column(String(4), primary_key=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    open: Mapped[float] = mapped_column(Float)
    high: Mapped[float] = mapped_column(Float)
    low: Mapped[float] = mapped_column(Float)
    close: Mapped[float] = mapped_column(Float)
    volume: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class NewsRow(Base):
    """One story, stored once under its stable key.

    ``sort_at`` is the published time, else the time we first saw the story: the order in
    which /news lists them, kept in a column so that it can be indexed.
    """

    __tablename__ = "news"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sort_at: Mapped[datetime] = mapped_column(UtcDateTime)

    __table_args__ = (Index("ix_news_sort_at", "sort_at"),)


class AnalysisRow(Base):
    """A written analysis, cached by window, language, model and newest data point.

    The newest data point is its time and its close: the candle still open keeps moving,
    and words written for one close must not be shown beside another.
    """

    __tablename__ = "analyses"

    window: Mapped[str] = mapped_column(String(16), primary_key=True)
    language: Mapped[str] = mapped_column(String(8), primary_key=True)
    model: Mapped[str] = mapped_column(String(64), primary_key=True)
    newest_at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    newest_close: Mapped[float] = mapped_column(Float, primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    analyst: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SourceStatusRow(Base):
    """How a price provider or a feed last went, kept across restarts for /status."""

    __tablename__ = "source_status"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    last_success_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    rows_stored: Mapped[int] = mapped_column(default=0)


class DataGapRow(Base):
    """A stretch of missing candles the collector could not fill, first to last missing."""

    __tablename__ = "data_gaps"

    symbol: Mapped[str] = mapped_column(String(16), primary_key=True)
    interval: Mapped[str] = mapped_column(String(4), primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    ends_at: Mapped[datetime] = mapped_column(UtcDateTime)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime)


class SubscriptionRow(Base):
    """A chat that asked for the daily digest, in the language of whoever subscribed it.

    A chat that blocked the bot, was deactivated or cannot be found stays here, marked
    inactive with the reason, so that it is skipped until it subscribes again.
    """

    __tablename__ = "subscriptions"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    chat_type: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    subscribed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    inactive_reason: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DigestClaimRow(Base):
    """One chat's digest for one local date, claimed before it is sent.

    The primary key (chat, local date) is what makes a digest go out at most once: whoever
    inserts the row sends; anyone whose insert conflicts does not. ``state`` is ``claimed``
    while sending, then ``sent`` or ``failed`` (with ``detail`` saying why).
    """

    __tablename__ = "digest_claims"

    chat: Mapped[str] = mapped_column(String(64), primary_key=True)
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    claimed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str] = mapped_column(String(64))
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    retried: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[str | None] = mapped_column(Text)


class DigestRunRow(Base):
    """How one digest run went, for /status."""

    __tablename__ = "digest_runs"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    local_date: Mapped[date] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime] = mapped_column(UtcDateTime)
    run_by: Mapped[str] = mapped_column(String(64))
    sent: Mapped[int] = mapped_column(default=0)
    failed: Mapped[int] = mapped_column(default=0)
    retried: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    channel_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_digest_runs_finished_at", "finished_at"),)


class JobLeaseRow(Base):
    """Which replica may run a scheduled job, and until when, so that one runs it at a time.

    A holder keeps its lease alive by pushing ``expires_at`` forward; once that time has
    passed, any replica may take the lease over.
    """

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    acquired_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
