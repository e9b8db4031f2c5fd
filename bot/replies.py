"""Replies: the services' results written as text, in Telegram HTML or in plain text.

Every outside value (a headline, a source's name, the analyst's words, an echoed argument)
passes through ``Markup.escape`` exactly once, here and nowhere else.
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.texts import has_text, text
from core.errors import InputError
from core.numbers import format_pct, format_usd
from core.services import StatusReport, TrendReport
from storage.repositories import SourceStatus, StoredHeadline

# Echoed user input is cut to this many characters before it is escaped.
ECHO_MAX_CHARS = 32


@dataclass(frozen=True, slots=True)
class Markup:
    """How a reply marks bold text and links: Telegram HTML, or nothing for a console."""

    html: bool

    def escape(self, value: str) -> str:
        """Make outside text safe to place in the reply."""
        return html.escape(value, quote=False) if self.html else value

    def bold(self, value: str) -> str:
        """Bold an already escaped value."""
        return f"<b>{value}</b>" if self.html else value

    def link(self, label: str, url: str | None) -> str:
        """A link whose label is already escaped; plain text shows the address after it."""
        if not url:
            return label
        if self.html:
            return f'<a href="{html.escape(url, quote=True)}">{label}</a>'
        return f"{label}\n  {url}"


HTML = Markup(html=True)
PLAIN = Markup(html=False)


def format_age(age: timedelta, language: str) -> str:
    """A duration in the largest units that matter: ``3 d 4 h``, ``12 min``."""
    minutes = int(age.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    day_unit = "j" if language == "fr" else "d"
    if days:
        return f"{days} {day_unit} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def format_time(moment: datetime) -> str:
    """A UTC time as ``2025-11-22 23:00``."""
    return moment.strftime("%Y-%m-%d %H:%M")


def help_reply(language: str, markup: Markup) -> str:
    """What /start and /help answer."""
    lines = [
        markup.bold(markup.escape(text(language, "help.title"))),
        markup.escape(text(language, "help.intro")),
        "",
        markup.escape(text(language, "help.trend")),
        markup.escape(text(language, "help.news")),
        markup.escape(text(language, "help.status")),
        markup.escape(text(language, "help.help")),
        "",
        markup.escape(text(language, "help.disclaimer")),
    ]
    return "\n".join(lines)


def trend_reply(report: TrendReport, language: str, markup: Markup) -> str:
    """What /trend answers: the analysis, then the figures it stands on, then their date."""
    facts = report.facts
    window = facts.window
    title = text(language, "trend.title", window=window.label)
    lines = [markup.bold(markup.escape(title))]
    if window.clamped_from:
        lines.append(
            markup.escape(
                text(
                    language,
                    "trend.clamped",
                    requested=window.clamped_from[:ECHO_MAX_CHARS],
                    window=window.label,
                )
            )
        )
    lines += ["", markup.escape(report.text), ""]

    figures = text(
        language,
        "trend.figures",
        first=format_usd(facts.first_close, language),
        last=format_usd(facts.last_close, language),
        change=format_pct(facts.change_pct, language),
        low=format_usd(facts.low, language),
        high=format_usd(facts.high, language),
    )
    labels = text(
        language,
        "trend.labels",
        trend=text(language, f"trend.{facts.trend.value}"),
        volatility=text(language, f"vol.{facts.volatility_label.value}"),
        volatility_pct=format_pct(facts.volatility, language, signed=False),
    )
    as_of = text(
        language,
        "trend.as_of",
        as_of=format_time(facts.newest_at + facts.interval.length),
        age=format_age(report.data_age, language),
        points=facts.points,
        unit=text(language, f"unit.{facts.interval.value}"),
    )
    lines += [markup.escape(figures), markup.escape(labels), markup.escape(as_of)]
    if report.gaps:
        missing = sum(gap.missing for gap in report.gaps)
        lines.append(
            markup.escape(
                text(
                    language,
                    "trend.gaps",
                    missing=missing,
                    start=format_time(report.gaps[0].starts_at),
                    end=format_time(report.gaps[-1].ends_at),
                )
            )
        )
    if report.fallback_reason:
        lines.append(markup.escape(text(language, "trend.fallback")))
    return "\n".join(lines)


def news_reply(items: list[StoredHeadline], language: str, markup: Markup) -> str:
    """What /news answers: one paragraph a headline, newest first."""
    if not items:
        return markup.escape(text(language, "news.empty"))

    paragraphs = [markup.bold(markup.escape(text(language, "news.title")))]
    for item in items:
        headline = item.headline
        title = markup.link(markup.bold(markup.escape(headline.title)), headline.link)
        origin = f"{headline.source} · {format_time(item.shown_at)} UTC"
        paragraphs.append(f"{title}\n{markup.escape(origin)}")
    return "\n\n".join(paragraphs)


def status_reply(report: StatusReport, language: str, markup: Markup) -> str:
    """What /status answers an admin: a dashboard that fits one message on a phone."""
    stats = report.stats
    today = report.now.date()
    lines = [
        text(
            language,
            "status.header",
            version=report.version,
            uptime=format_age(report.uptime, language),
        ),
        text(
            language,
            "status.data",
            database=report.database_kind,
            size=_megabytes(report.database_bytes),
            prices=report.price_rows,
            news=report.news_rows,
        ),
        _freshness(report, "status.candle", report.newest_candle_at, language),
        _freshness(report, "status.headline", report.newest_headline_at, language),
    ]
    if report.gaps:
        missing = sum(gap.missing for gap in report.gaps)
        lines.append(text(language, "status.gaps", count=len(report.gaps), missing=missing))

    lines.append(text(language, "status.sources"))
    lines += [f"• {_source_line(source, language)}" for source in report.sources] or ["• –"]

    if report.jobs:
        runs = " · ".join(
            f"{name} {format_time(moment)[11:] if moment else '–'}" for name, moment in report.jobs
        )
        lines.append(text(language, "status.jobs", runs=runs))

    lines += [
        text(
            language,
            "status.llm",
            analyst=report.analyst,
            calls=stats.llm_calls,
            hits=stats.llm_cache_hits,
            failures=_counts(stats.llm_failures),
            fallbacks=_counts(stats.llm_fallbacks),
        ),
        text(
            language,
            "status.llm_usage",
            tokens_in=stats.llm_tokens_by_day[(today, "in")],
            tokens_out=stats.llm_tokens_by_day[(today, "out")],
            p50=_milliseconds(stats.llm_latency.p50()),
            p95=_milliseconds(stats.llm_latency.p95()),
        ),
    ]
    if report.llm_resting_until is not None:
        resting = format_time(report.llm_resting_until)
        lines.append(text(language, "status.llm_resting", until=resting))

    lines.append(text(language, "status.handlers", handled=stats.handled, errors=stats.errors))
    for command, tracker in sorted(stats.handler_latency.items()):
        lines.append(
            text(
                language,
                "status.handler",
                command=command,
                count=len(tracker.samples),
                p50=_milliseconds(tracker.p50()),
                p95=_milliseconds(tracker.p95()),
            )
        )
    title = markup.bold(markup.escape(text(language, "status.title")))
    return "\n".join([title, *(markup.escape(line) for line in lines)])


def _freshness(report: StatusReport, key: str, newest: datetime | None, language: str) -> str:
    """``Newest candle 2025-11-23 00:00 UTC (3 h 2 min ago)``, flagged when stale."""
    if newest is None:
        return text(language, key, at=text(language, "status.none"), age="–")

    line = text(
        language, key, at=format_time(newest), age=format_age(report.now - newest, language)
    )
    if report.is_stale(newest):
        line += " " + text(language, "status.stale")
    return line


def _source_line(source: SourceStatus, language: str) -> str:
    """One source: its last success and rows, and its last error when newer."""
    success = format_time(source.last_success_at)[5:] if source.last_success_at else "–"
    line = text(
        language,
        "status.source",
        kind=source.kind,
        name=source.name,
        success=success,
        rows=source.rows_stored,
    )
    failing = source.last_error_at is not None and (
        source.last_success_at is None or source.last_error_at > source.last_success_at
    )
    if failing and source.last_error_at is not None:
        error = (source.last_error or "")[:60]
        at = format_time(source.last_error_at)[5:]
        line += " · " + text(language, "status.source_error", at=at, error=error)
    return line


def _milliseconds(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"


def _megabytes(size: int | None) -> str:
    return "?" if size is None else f"{size / 1_000_000:.1f} MB"


def _counts(counter: Mapping[str, int]) -> str:
    """``timeout 2, rate_limited 1``, or a dash when nothing was counted."""
    return ", ".join(f"{name} {count}" for name, count in sorted(counter.items())) or "–"


def printable(value: str) -> str:
    """Outside text fit to echo on one line: no control, bidi or zero-width characters.

    A right-to-left override, say, would otherwise turn the rest of the reply around.
    """
    visible = "".join(
        " " if character.isspace() else character
        for character in value
        if character.isspace() or unicodedata.category(character)[0] != "C"
    )
    return " ".join(visible.split())


def input_error_reply(error: InputError, language: str, markup: Markup) -> str:
    """A usage message for an argument we could not read, echoing it cut and escaped."""
    echoed = printable(str(error.params.get("text", "")))[:ECHO_MAX_CHARS]
    family = error.code.split("_", 1)[0]
    for key in (f"error.{error.code}", f"error.{family}_format", "error.invalid_input"):
        if has_text(key):
            return markup.escape(text(language, key, text=echoed))
    return markup.escape(text(language, "error.invalid_input"))
