"""Replies: the services' results written as text, in Telegram HTML or in plain text.

Every outside value (a headline, a source's name, the analyst's words, an echoed argument)
passes through ``Markup.escape`` exactly once, here and nowhere else.
"""

from __future__ import annotations

import html
import logging
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.texts import has_text, text
from core.charts import ChartLabels, ChartService, PriceSeries
from core.digest import Digest, DigestStatus
from core.errors import InputError
from core.numbers import format_pct, format_usd
from core.services import StatusReport, TrendReport
from storage.repositories import SourceStatus, StoredHeadline

logger = logging.getLogger(__name__)

# Echoed user input is cut to this many characters before it is escaped.
ECHO_MAX_CHARS = 32
# A headline's title is cut to this many characters in the digest.
DIGEST_TITLE_MAX_CHARS = 200


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
    minutes = max(int(age.total_seconds() // 60), 0)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    day_unit = "j" if language == "fr" else "d"
    if days:
        return f"{days} {day_unit} {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min"


def format_window(label: str, language: str) -> str:
    """A window label as the reader writes it: ``7d`` stays, French reads ``7 j``, ``1 an``."""
    if language != "fr" or not label[:-1].isdigit():
        return label
    amount, unit = int(label[:-1]), label[-1]
    if unit == "d":
        return f"{amount}\u00a0j"
    if unit == "y":
        return f"{amount}\u00a0an" + ("s" if amount > 1 else "")
    return f"{amount}\u00a0h"


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
        markup.escape(text(language, "help.chart")),
        markup.escape(text(language, "help.digest")),
        markup.escape(text(language, "help.subscribe")),
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
    title = text(language, "trend.title", window=format_window(window.label, language))
    lines = [markup.bold(markup.escape(title))]
    if window.clamped_from:
        lines.append(
            markup.escape(
                text(
                    language,
                    "trend.clamped",
                    requested=window.clamped_from[:ECHO_MAX_CHARS],
                    window=format_window(window.label, language),
                )
            )
        )
    if report.stale and report.as_of is not None:
        warning = text(
            language,
            "trend.stale",
            as_of=format_time(report.as_of),
            age=format_age(report.data_age, language),
        )
        lines.append(markup.escape(warning))
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
        as_of=format_time(report.as_of or facts.newest_at + facts.interval.length),
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
        note = "trend.refused" if report.fallback_reason == "rejected" else "trend.fallback"
        lines.append(markup.escape(text(language, note)))
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
    if report.digest is not None:
        lines += digest_status_lines(report.digest, language)

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


def digest_status_lines(status: DigestStatus, language: str) -> list[str]:
    """The /status lines about the digest: next time, last run, the channel's last claim."""
    local_next = status.next_at.astimezone(ZoneInfo(status.zone))
    lines = [
        text(
            language,
            "status.digest",
            next=format_time(local_next),
            zone=status.zone,
            next_utc=format_time(status.next_at),
            subscribers=status.subscribers,
            inactive=status.inactive_subscribers,
        )
    ]
    run = status.last_run
    if run is None:
        lines.append(text(language, "status.digest_none"))
    else:
        lines.append(
            text(
                language,
                "status.digest_last",
                date=run.local_date.isoformat(),
                sent=run.sent,
                failed=run.failed,
                retried=run.retried,
                skipped=run.skipped,
                at=format_time(run.finished_at),
            )
        )
        counts = status.day_counts
        lines.append(
            text(
                language,
                "status.digest_day",
                date=run.local_date.isoformat(),
                sent=counts.get("sent", 0),
                failed=counts.get("failed", 0),
                sending=counts.get("claimed", 0),
            )
        )
    claim = status.channel_claim
    if status.channel is not None and claim is not None:
        if claim.state == "failed":
            lines.append(
                text(
                    language,
                    "status.digest_channel_failed",
                    channel=status.channel,
                    date=claim.local_date.isoformat(),
                    error=(claim.detail or "")[:120],
                )
            )
        else:
            lines.append(
                text(
                    language,
                    "status.digest_channel",
                    channel=status.channel,
                    state=claim.state,
                    date=claim.local_date.isoformat(),
                )
            )
    return lines


def _price_line(digest: Digest, language: str) -> str:
    price = digest.price
    if price is None:
        return text(language, "digest.no_price")
    if price.change_pct is None:
        return text(language, "digest.price_only", price=format_usd(price.price, language))
    return text(
        language,
        "digest.price",
        price=format_usd(price.price, language),
        change=format_pct(price.change_pct, language, signed=True),
    )


def digest_caption(digest: Digest, markup: Markup) -> str:
    """The short caption under the digest's chart: title, price, and what the chart shows.

    Its words are ours and its numbers short, so it stays far below Telegram's 1,024
    characters for a caption.
    """
    language = digest.language
    lines = [
        markup.bold(markup.escape(text(language, "digest.title", date=digest.local_date))),
        markup.escape(_price_line(digest, language)),
    ]
    if digest.chart is not None:
        note = text(language, "digest.chart_note", as_of=format_time(digest.chart.as_of))
        lines.append(markup.escape(note))
    return "\n".join(lines)


def digest_text(digest: Digest, markup: Markup, *, for_subscriber: bool) -> str:
    """The digest itself: price and data age, the analyses, the headlines, a footer.

    Parts that were not available are left out without a word about why, except the
    headlines, whose absence is news in itself.
    """
    language = digest.language
    lines = [
        markup.bold(markup.escape(text(language, "digest.title", date=digest.local_date))),
        markup.escape(_price_line(digest, language)),
    ]
    if digest.price is not None:
        as_of = text(
            language,
            "digest.as_of",
            as_of=format_time(digest.price.as_of),
            age=format_age(digest.price.data_age, language),
        )
        lines.append(markup.escape(as_of))

    for report in digest.trends:
        facts = report.facts
        heading = text(
            language,
            "digest.trend",
            window=_window_heading(facts.window.label, language),
            trend=text(language, f"trend.{facts.trend.value}"),
            change=format_pct(facts.change_pct, language, signed=True),
            volatility=text(language, f"vol.{facts.volatility_label.value}"),
        )
        lines += ["", markup.bold(markup.escape(heading)), markup.escape(report.text)]

    lines += ["", markup.bold(markup.escape(text(language, "digest.headlines")))]
    if not digest.headlines:
        lines.append(markup.escape(text(language, "digest.no_headlines")))
    for item in digest.headlines:
        headline = item.headline
        title = markup.escape(headline.title[:DIGEST_TITLE_MAX_CHARS])
        source = markup.escape(headline.source)
        if markup.html:
            lines.append(f"• {markup.link(title, headline.link)} · {source}")
        else:
            lines.append(f"• {markup.link(f'{title} · {source}', headline.link)}")

    footer = "digest.footer_subscriber" if for_subscriber else "digest.footer"
    lines += ["", markup.escape(text(language, footer))]
    return "\n".join(lines)


def _window_heading(label: str, language: str) -> str:
    try:
        return text(language, f"digest.window.{label}")
    except KeyError:
        return label


def chart_labels(series: PriceSeries, language: str) -> ChartLabels:
    """The title and axis labels of a chart, in the reader's language."""
    return ChartLabels(
        title=text(
            language,
            "chart.title",
            window=format_window(series.window.label, language),
            as_of=format_time(series.as_of),
        ),
        x_label=text(language, "chart.x_label"),
        y_label=text(language, "chart.y_label"),
    )


def chart_caption(series: PriceSeries, language: str, markup: Markup) -> str:
    """The caption of a /chart picture."""
    caption = text(
        language,
        "chart.caption",
        window=format_window(series.window.label, language),
        as_of=format_time(series.as_of),
        points=len(series.candles),
        unit=text(language, f"unit.{series.window.interval.value}"),
    )
    return markup.escape(caption)


def chart_usage_reply(error: InputError, language: str, markup: Markup) -> str:
    """The usage message of /chart, echoing the argument it could not read."""
    echoed = str(error.params.get("text", ""))[:ECHO_MAX_CHARS]
    return markup.escape(text(language, "chart.usage", text=echoed))


def schedule_words(at: time, zone: str, next_at: datetime) -> dict[str, str]:
    """The time, zone and next local date a subscription reply names."""
    local_next = next_at.astimezone(ZoneInfo(zone))
    return {"time": at.strftime("%H:%M"), "zone": zone, "next": local_next.date().isoformat()}


@dataclass(frozen=True, slots=True)
class RenderedDigest:
    """A digest ready to send: the chart and its caption, then the text.

    Attributes:
        photo: The 7-day chart as PNG, or None when there is no chart to show.
        caption: The photo's short caption.
        text: The digest's text, to send as a message after the photo.
    """

    photo: bytes | None
    caption: str
    text: str


async def render_digest(
    digest: Digest, charts: ChartService, markup: Markup, *, for_subscriber: bool
) -> RenderedDigest:
    """Draw the digest's chart and write its caption and text.

    A chart that cannot be drawn is left out (with a warning in the log), never the digest.
    """
    photo = None
    if digest.chart is not None:
        try:
            photo = await charts.render(digest.chart, chart_labels(digest.chart, digest.language))
        except Exception:
            logger.warning("The digest's chart could not be drawn; it goes without", exc_info=True)
    return RenderedDigest(
        photo=photo,
        caption=digest_caption(digest, markup),
        text=digest_text(digest, markup, for_subscriber=for_subscriber),
    )


def channel_alert(
    local_date: date, channel: str, error: str, language: str, markup: Markup
) -> str:
    """What the admins are told when the digest could not be posted to the channel."""
    message = text(
        language,
        "alert.channel_failed",
        date=local_date.isoformat(),
        channel=channel,
        error=error[:200],
    )
    return markup.escape(message)
