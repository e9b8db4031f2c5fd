"""The bot's settings, read once at start from the environment and an optional .env file."""

from __future__ import annotations

import re
import zoneinfo
from datetime import time
from functools import cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from core.errors import ConfigError

Language = Literal["en", "fr"]

WEBHOOK_SECRET_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,256}")
KNOWN_PROVIDERS = ("binance", "kraken", "coinbase", "coingecko")
DEFAULT_NEWS_FEEDS = (
    ("coindesk", "https://www.coindesk.com/arc/outboundfeeds/rss/"),
    ("cointelegraph", "https://cointelegraph.com/rss"),
    ("decrypt", "https://decrypt.co/feed"),
    ("bitcoinmagazine", "https://bitcoinmagazine.com/.rss/full/"),
)

_CLOCK_TIME = re.compile(r"(?P<hour>[01]?[0-9]|2[0-3]):(?P<minute>[0-5][0-9])")
# "+01:00", "-0530", "UTC+1", "GMT-03:00": offsets, not zones.
_OFFSET = re.compile(r"^(?:(?:UTC|GMT)\s*)?[+\-\u2212][0-9]", re.IGNORECASE)
# Names the zone database holds that are not places: the host's own zone, and helpers.
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})


@cache
def _known_zones() -> frozenset[str]:
    """Every IANA zone name the zone database installed here knows."""
    return frozenset(zoneinfo.available_timezones())


class Settings(BaseSettings):
    """Every knob of Bitcoin Analyzer; `.env.example` describes each one.

    The object is frozen: it is built once in ``main`` and passed to whoever needs it, so no
    other module reads the environment. Secrets are ``SecretStr`` and never appear in the
    repr or in logs.
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        frozen=True,
        hide_input_in_errors=True,
        env_ignore_empty=True,
    )

    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_file_base_url: str = "https://api.telegram.org/file/bot"
    telegram_timeout_seconds: float = Field(default=20.0, gt=0, le=300)
    concurrent_updates: int = Field(default=32, ge=1, le=1024)

    gemini_api_key: SecretStr | None = None
    gemini_model: str = Field(default="gemini-2.5-flash", min_length=1)
    google_gemini_base_url: str | None = None
    gemini_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    gemini_max_output_tokens: int = Field(default=1024, ge=64, le=8192)
    gemini_retries: int = Field(default=2, ge=0, le=5)
    trend_deadline_seconds: float = Field(default=20.0, gt=0, le=120)

    data_dir: Path = Path("data")
    # Left out of repr and str: the URL may hold a password.
    database_url: str | None = Field(default=None, repr=False)
    auto_migrate: bool = True

    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_listen: str = "127.0.0.1"
    webhook_port: int = Field(default=8080, ge=1, le=65_535)
    job_lease_seconds: float = Field(default=60.0, ge=1, le=3600)

    price_providers: Annotated[tuple[str, ...], NoDecode] = (
        "binance",
        "kraken",
        "coinbase",
        "coingecko",
    )
    binance_base_url: str = "https://api.binance.com"
    kraken_base_url: str = "https://api.kraken.com"
    coinbase_base_url: str = "https://api.exchange.coinbase.com"
    coingecko_base_url: str = "https://api.coingecko.com"
    coingecko_api_key: SecretStr | None = None
    news_feeds: Annotated[tuple[tuple[str, str], ...], NoDecode] = DEFAULT_NEWS_FEEDS
    http_timeout_seconds: float = Field(default=15.0, gt=0, le=120)
    feed_max_bytes: int = Field(default=2_000_000, ge=10_000, le=50_000_000)
    ingestion_enabled: bool = True
    # Below one minute only for tests: the providers would soon rate-limit such a pace.
    price_ingest_minutes: float = Field(default=5.0, ge=0.05, le=24 * 60)
    news_ingest_minutes: float = Field(default=15.0, ge=0.05, le=24 * 60)

    digest_enabled: bool = True
    digest_time: time = time(8, 0)
    digest_tz: str = "UTC"
    digest_chat_id: int | str | None = None

    trend_limit_calls: int = Field(default=6, ge=0, le=1000)
    trend_limit_period_seconds: float = Field(default=60.0, gt=0, le=86_400)

    admin_ids: Annotated[frozenset[int], NoDecode] = frozenset()
    default_language: Language = "en"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    metrics_port: int | None = Field(default=None, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"
    stale_after_minutes: float = Field(default=90.0, gt=0, le=100_000)

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_admin_ids(cls, value: object) -> object:
        """Accept ``ADMIN_IDS=123,456`` (commas or spaces) as well as a real collection."""
        if not isinstance(value, str):
            return value

        items = value.replace(",", " ").split()
        if not all(item.lstrip("-").isdigit() for item in items):
            raise ValueError("must be Telegram user ids (whole numbers) separated by commas")
        return frozenset(int(item) for item in items)

    @field_validator("price_providers", mode="before")
    @classmethod
    def _split_providers(cls, value: object) -> object:
        """Accept ``PRICE_PROVIDERS=kraken,binance``: the order of preference."""
        if not isinstance(value, str):
            return value

        names = tuple(name.strip().lower() for name in value.split(",") if name.strip())
        if len(set(names)) != len(names):
            raise ValueError("a provider is named twice")
        unknown = sorted(set(names) - set(KNOWN_PROVIDERS))
        if unknown or not names:
            raise ValueError(
                f"unknown provider {', '.join(unknown) or '(none given)'}; "
                f"choose among {', '.join(KNOWN_PROVIDERS)}"
            )
        return names

    @field_validator("news_feeds", mode="before")
    @classmethod
    def _split_feeds(cls, value: object) -> object:
        """Accept ``NEWS_FEEDS=name=https://...,other=https://...``."""
        if not isinstance(value, str):
            return value

        feeds = []
        for item in value.split(","):
            name, separator, url = item.strip().partition("=")
            if (
                not separator
                or not name.strip()
                or not url.strip().startswith(("http://", "https://"))
            ):
                raise ValueError("must be name=https://address pairs separated by commas")
            feeds.append((name.strip(), url.strip()))
        return tuple(feeds)

    @field_validator(
        "telegram_api_base_url",
        "telegram_file_base_url",
        "google_gemini_base_url",
        "binance_base_url",
        "kraken_base_url",
        "coinbase_base_url",
        "coingecko_base_url",
    )
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        """Refuse a base URL without an http or https scheme, before any call is made."""
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook_url(cls, value: str | None) -> str | None:
        """Telegram delivers updates only to an https address."""
        if value is not None and not value.startswith("https://"):
            raise ValueError("must start with https:// (Telegram only calls https webhooks)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _check_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        """Telegram accepts 1 to 256 characters among A-Z, a-z, 0-9, _ and -."""
        if value is not None and not WEBHOOK_SECRET_PATTERN.fullmatch(value.get_secret_value()):
            raise ValueError("must be 1 to 256 characters among A-Z, a-z, 0-9, _ and -")
        return value

    @model_validator(mode="after")
    def _require_webhook_secret(self) -> Settings:
        """Refuse a webhook without a secret: anyone could post updates to it."""
        if self.webhook_url and self.webhook_secret is None:
            raise ValueError(
                "WEBHOOK_SECRET is required with WEBHOOK_URL, so that the bot only accepts "
                "updates that come from Telegram"
            )
        return self

    @field_validator("digest_time", mode="before")
    @classmethod
    def _read_digest_time(cls, value: object) -> object:
        """Accept ``DIGEST_TIME=HH:MM`` on the 24-hour clock, and nothing looser."""
        if not isinstance(value, str):
            return value

        match = _CLOCK_TIME.fullmatch(value.strip())
        if match is None:
            raise ValueError("must be a time of day as HH:MM on the 24-hour clock, e.g. 08:00")
        return time(int(match["hour"]), int(match["minute"]))

    @field_validator("digest_tz")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        """Accept an IANA zone name only: a fixed offset would ignore summer time."""
        name = value.strip()
        if _OFFSET.match(name):
            raise ValueError(
                f"{name[:32]!r} is a fixed offset; give an IANA time zone such as Europe/Paris "
                "or UTC, so that summer time is followed"
            )
        if name in _NOT_ZONES or name not in _known_zones():
            raise ValueError(
                f"unknown time zone {name[:32]!r}; give an IANA name such as Europe/Paris or UTC"
            )
        return name

    @field_validator("digest_chat_id", mode="before")
    @classmethod
    def _read_chat_id(cls, value: object) -> object:
        """Accept a numeric chat id (``-1001234567890``) or a channel's ``@username``."""
        if not isinstance(value, str):
            return value

        text = value.strip()
        if re.fullmatch(r"-?[0-9]{1,20}", text):
            return int(text)
        if re.fullmatch(r"@[A-Za-z][A-Za-z0-9_]{3,31}", text):
            return text
        raise ValueError("must be a numeric chat id such as -1001234567890 or an @channelname")

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        """Let ``LOG_LEVEL=debug`` mean what it says."""
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        """Let ``LOG_FORMAT=JSON`` mean what it says."""
        return value.lower() if isinstance(value, str) else value

    @field_validator("default_language", mode="before")
    @classmethod
    def _lower_language(cls, value: object) -> object:
        """Let ``DEFAULT_LANGUAGE=FR`` mean what it says."""
        return value.lower() if isinstance(value, str) else value

    @property
    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL: DATABASE_URL, else a SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / 'bitcoin_analyzer.db'}"

    def secret_values(self) -> list[str]:
        """Every secret set: each ``SecretStr`` setting and the database URL's password.

        Logging masks these wherever they appear, tracebacks included.
        """
        values = [
            value.get_secret_value()
            for name in type(self).model_fields
            if isinstance(value := getattr(self, name), SecretStr)
        ]
        if self.database_url:
            try:
                values.append(make_url(self.database_url).password or "")
            except ArgumentError:
                pass  # open_database refuses such a URL, naming the setting
        return [value for value in values if value]

    @property
    def webhook_enabled(self) -> bool:
        """Whether Telegram delivers updates to a webhook instead of being polled."""
        return bool(self.webhook_url)

    @property
    def digest_zone(self) -> zoneinfo.ZoneInfo:
        """The digest's time zone (checked when the settings were read)."""
        return zoneinfo.ZoneInfo(self.digest_tz)

    @property
    def gemini_enabled(self) -> bool:
        """Whether a Gemini key is set, so the Gemini analyst can be used."""
        return self.gemini_api_key is not None and bool(self.gemini_api_key.get_secret_value())


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation failure into a message that names the setting.

    Args:
        overrides: Values that win over the environment, for the command line and tests.

    Raises:
        ConfigError: A setting is invalid; the message names it in the environment's spelling.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except UnicodeDecodeError as error:
        raise ConfigError("Invalid settings file .env: it is not UTF-8 text") from error
    except ValidationError as error:
        problems = []
        for issue in error.errors():
            name = ".".join(str(part) for part in issue["loc"]).upper() or "settings"
            problems.append(f"{name}: {issue['msg']}")
        raise ConfigError("Invalid setting " + "; ".join(problems)) from error
