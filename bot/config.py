"""Configuration from the environment and `.env`.

Every variable of the design's table is read here and nowhere else, so that a bad
value stops the start with one clear line (``ConfigError``) instead of a traceback
from deep inside the program.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel import Locale, UnknownLocaleError
from dotenv import dotenv_values

DEFAULT_API_URL = "https://api.telegram.org"
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///careloop.db"
_TOKEN_RE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{10,}$")
_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
WEBHOOK_SECRET_MIN = 32
# Set only for a live deployment: without BOT_TOKEN they mean a token went missing,
# not that someone wants the sandbox (which would ignore them and run on demo data).
LIVE_ONLY = ("DATABASE_URL", "WEBHOOK_URL", "REDIS_URL")


class ConfigError(Exception):
    """A configuration value is missing or wrong; the message names the variable."""


class MissingTokenError(ConfigError):
    """No BOT_TOKEN: the start explains how to get one instead of failing obscurely."""


@dataclass(frozen=True)
class Settings:
    """The validated configuration of one running instance."""

    bot_token: str
    telegram_api_url: str = DEFAULT_API_URL
    database_url: str = DEFAULT_DATABASE_URL
    redis_url: str | None = None
    admin_ids: frozenset[int] = field(default_factory=frozenset)
    # unset: patients read "the clinic" / "la clínica" in their language (texts.clinic_of)
    clinic_name: str = ""
    clinic_timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    # both required in live mode (load_settings); these values are only the sandbox's demo
    clinic_phone: str = "+34 910 000 000"
    emergency_number: str = "112"
    # how staff texts, dates and numbers are written (a Babel identifier: en_GB, es_MX …)
    clinic_locale: str = "en_GB"
    protocol_file: Path | None = None
    time_scale: float = 1.0
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_port: int = 8080
    webhook_host: str = "0.0.0.0"  # bind address of the public server (webhook, /healthz)
    health_port: int | None = None  # serve /healthz and /metrics here (both modes)
    health_host: str = "127.0.0.1"  # bind address of that server: local unless said otherwise
    alert_chat_id: int | None = None
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one JSON object per line
    invite_ttl: timedelta = timedelta(hours=72)
    # a follow-up that ended (discharge, /stop, declined) this long ago is erased
    retention: timedelta = timedelta(days=365)
    dispatch_interval_seconds: float = 2.0
    global_rate_per_second: float = 30.0
    per_chat_rate_per_second: float = 1.0
    escalation_minutes: tuple[int, ...] = (15, 60)
    # the clinic desk Mini App: its public HTTPS address (None: no desk), and where it
    # listens in polling mode (webhook mode serves it on the webhook port)
    desk_url: str | None = None
    desk_port: int = 8081
    desk_host: str = "0.0.0.0"


def _int(name: str, raw: str) -> int:
    try:
        return int(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}: expected a whole number, got {raw!r}") from None


def _positive_float(name: str, raw: str) -> float:
    try:
        value = float(raw.strip())
    except ValueError:
        raise ConfigError(f"{name}: expected a positive number, got {raw!r}") from None
    if not value > 0:
        raise ConfigError(f"{name}: expected a positive number, got {raw!r}")
    return value


def _url(name: str, raw: str, schemes: tuple[str, ...]) -> str:
    value = raw.strip().rstrip("/")
    if not any(value.startswith(s + "://") for s in schemes):
        expected = " or ".join(f"{s}://…" for s in schemes)
        raise ConfigError(f"{name}: expected a URL starting with {expected}, got {raw!r}")
    return value


def _desk_url(raw: str) -> str:
    """The desk's public address: HTTPS (Telegram opens Mini Apps over HTTPS only), a
    host, no query or fragment; kept with a trailing slash, as the page's relative API
    calls (`api/...`) resolve against it."""
    value = raw.strip()
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.hostname:
        raise ConfigError(
            f"DESK_URL: expected the desk's public HTTPS address such as "
            f"https://clinic.example/desk/, got {raw!r}"
        )
    if parts.query or parts.fragment or len(value) > 512:
        raise ConfigError(f"DESK_URL: expected an address without ? or #, got {raw!r}")
    return value if value.endswith("/") else value + "/"


def _admin_ids(raw: str) -> frozenset[int]:
    ids: set[int] = set()
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        if not re.fullmatch(r"\d{1,20}", part):
            raise ConfigError(
                f"ADMIN_IDS: expected comma-separated Telegram user ids (numbers), got {part!r}"
            )
        ids.add(int(part))
    return frozenset(ids)


def _database_url(raw: str) -> str:
    value = raw.strip()
    if not (value.startswith("sqlite+aiosqlite://") or value.startswith("postgresql+asyncpg://")):
        raise ConfigError(
            "DATABASE_URL: expected sqlite+aiosqlite:///file.db or "
            f"postgresql+asyncpg://user@host/db, got {raw!r}"
        )
    return value


def _locale(raw: str) -> str:
    """en-GB, en_US, es-MX … → Babel's identifier; texts exist in English and Spanish."""
    expected = f"expected a locale such as en-GB, en-US, es-ES or es-MX, got {raw!r}"
    try:
        locale = Locale.parse(raw.strip().replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        raise ConfigError(f"CLINIC_LOCALE: {expected}") from None
    if locale.language not in ("en", "es"):
        raise ConfigError(f"CLINIC_LOCALE: {expected} (staff texts are in English and Spanish)")
    if locale.territory is None:
        raise ConfigError(f"CLINIC_LOCALE: {expected} (name the country: how dates are written)")
    return str(locale)


def read_environment(env_file: Path | None = Path(".env")) -> dict[str, str]:
    """The process environment over the values of `.env` (the environment wins)."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ)
    return values


def load_settings(env: Mapping[str, str], *, require_token: bool = True) -> Settings:
    """Validate `env` into Settings, or raise ConfigError naming the first bad variable."""

    def get(name: str) -> str | None:
        value = env.get(name)
        return value if value is not None and value.strip() != "" else None

    token = get("BOT_TOKEN")
    if token is None:
        if require_token:
            if live := [name for name in LIVE_ONLY if get(name) is not None]:
                raise ConfigError(
                    f"BOT_TOKEN: not set, but {live[0]} is, which only a live bot uses; "
                    f"set BOT_TOKEN, or unset {', '.join(live)} for the sandbox"
                )
            raise MissingTokenError("BOT_TOKEN is not set")
        token = ""
    elif not _TOKEN_RE.match(token.strip()):
        raise ConfigError("BOT_TOKEN: expected a token like 123456789:AA…, as @BotFather gives it")
    kwargs: dict[str, object] = {"bot_token": token.strip()}

    if (raw := get("TELEGRAM_API_URL")) is not None:
        kwargs["telegram_api_url"] = _url("TELEGRAM_API_URL", raw, ("http", "https"))
    if (raw := get("DATABASE_URL")) is not None:
        kwargs["database_url"] = _database_url(raw)
    if (raw := get("REDIS_URL")) is not None:
        kwargs["redis_url"] = _url("REDIS_URL", raw, ("redis", "rediss", "unix"))
    if (raw := get("ADMIN_IDS")) is not None:
        kwargs["admin_ids"] = _admin_ids(raw)
    if (raw := get("CLINIC_NAME")) is not None:
        if len(raw.strip()) > 64:
            raise ConfigError("CLINIC_NAME: expected at most 64 characters")
        kwargs["clinic_name"] = raw.strip()
    if (raw := get("CLINIC_TIMEZONE")) is not None:
        try:
            kwargs["clinic_timezone"] = ZoneInfo(raw.strip())
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a folder
            raise ConfigError(
                f"CLINIC_TIMEZONE: expected an IANA time zone such as Europe/Madrid, got {raw!r}"
            ) from None
    if (raw := get("CLINIC_PHONE")) is not None:
        if not re.fullmatch(r"[0-9+()\-. ]{3,32}", raw.strip()):
            raise ConfigError(f"CLINIC_PHONE: expected a phone number, got {raw!r}")
        kwargs["clinic_phone"] = raw.strip()
    if (raw := get("EMERGENCY_NUMBER")) is not None:
        if not re.fullmatch(r"[0-9+]{2,15}", raw.strip()):
            raise ConfigError(f"EMERGENCY_NUMBER: expected a short number like 112, got {raw!r}")
        kwargs["emergency_number"] = raw.strip()
    if (raw := get("CLINIC_LOCALE")) is not None:
        kwargs["clinic_locale"] = _locale(raw)
    if (raw := get("PROTOCOL_FILE")) is not None:
        path = Path(raw.strip())
        if not path.is_file():
            raise ConfigError(f"PROTOCOL_FILE: no such file: {raw}")
        kwargs["protocol_file"] = path
    if (raw := get("TIME_SCALE")) is not None:
        kwargs["time_scale"] = _positive_float("TIME_SCALE", raw)
    if (raw := get("WEBHOOK_URL")) is not None:
        kwargs["webhook_url"] = _url("WEBHOOK_URL", raw, ("https", "http"))
    if (raw := get("WEBHOOK_SECRET")) is not None:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", raw.strip()):
            raise ConfigError("WEBHOOK_SECRET: expected 1-256 characters A-Z, a-z, 0-9, _ or -")
        if len(raw.strip()) < WEBHOOK_SECRET_MIN:
            raise ConfigError(
                f"WEBHOOK_SECRET: expected at least {WEBHOOK_SECRET_MIN} characters, got "
                f"{len(raw.strip())} (make one with: python3 -c "
                "'import secrets; print(secrets.token_urlsafe(32))')"
            )
        kwargs["webhook_secret"] = raw.strip()
    if (raw := get("WEBHOOK_PORT")) is not None:
        port = _int("WEBHOOK_PORT", raw)
        if not 1 <= port <= 65535:
            raise ConfigError(f"WEBHOOK_PORT: expected a port 1-65535, got {raw!r}")
        kwargs["webhook_port"] = port
    if (raw := get("WEBHOOK_HOST")) is not None:
        if not re.fullmatch(r"[A-Za-z0-9.:_\-]{1,253}", raw.strip()):
            raise ConfigError(
                f"WEBHOOK_HOST: expected an address to listen on such as 0.0.0.0, got {raw!r}"
            )
        kwargs["webhook_host"] = raw.strip()
    if (raw := get("HEALTH_PORT")) is not None:
        port = _int("HEALTH_PORT", raw)
        if not 1 <= port <= 65535:
            raise ConfigError(f"HEALTH_PORT: expected a port 1-65535, got {raw!r}")
        kwargs["health_port"] = port
    if (raw := get("HEALTH_HOST")) is not None:
        if not re.fullmatch(r"[A-Za-z0-9.:_\-]{1,253}", raw.strip()):
            raise ConfigError(
                f"HEALTH_HOST: expected an address to listen on such as 127.0.0.1, got {raw!r}"
            )
        kwargs["health_host"] = raw.strip()
    if (raw := get("ALERT_CHAT_ID")) is not None:
        kwargs["alert_chat_id"] = _int("ALERT_CHAT_ID", raw)
    if (raw := get("LOG_LEVEL")) is not None:
        level = raw.strip().upper()
        if level not in _LEVELS:
            raise ConfigError(f"LOG_LEVEL: expected one of {', '.join(_LEVELS)}, got {raw!r}")
        kwargs["log_level"] = level
    if (raw := get("LOG_FORMAT")) is not None:
        log_format = raw.strip().lower()
        if log_format not in ("text", "json"):
            raise ConfigError(f"LOG_FORMAT: expected text or json, got {raw!r}")
        kwargs["log_format"] = log_format
    if (raw := get("INVITE_TTL_HOURS")) is not None:
        hours = _positive_float("INVITE_TTL_HOURS", raw)
        kwargs["invite_ttl"] = timedelta(hours=hours)
    if (raw := get("RETENTION_DAYS")) is not None:
        days = raw.strip()
        if not days.isdigit() or int(days) <= 0:
            raise ConfigError(f"RETENTION_DAYS: expected a positive whole number, got {raw!r}")
        kwargs["retention"] = timedelta(days=int(days))
    if (raw := get("DISPATCH_INTERVAL_SECONDS")) is not None:
        kwargs["dispatch_interval_seconds"] = _positive_float("DISPATCH_INTERVAL_SECONDS", raw)
    if (raw := get("SEND_RATE_PER_SECOND")) is not None:
        kwargs["global_rate_per_second"] = _positive_float("SEND_RATE_PER_SECOND", raw)
    if (raw := get("SEND_RATE_PER_CHAT_PER_SECOND")) is not None:
        kwargs["per_chat_rate_per_second"] = _positive_float("SEND_RATE_PER_CHAT_PER_SECOND", raw)
    if (raw := get("ESCALATION_MINUTES")) is not None:
        try:
            steps = tuple(int(part) for part in raw.split(",") if part.strip())
        except ValueError:
            steps = ()
        if not steps or steps[0] < 1 or any(b <= a for a, b in pairwise(steps)):
            raise ConfigError(
                f"ESCALATION_MINUTES: expected rising minutes like 15,60, got {raw!r}"
            )
        kwargs["escalation_minutes"] = steps
    if (raw := get("DESK_URL")) is not None:
        kwargs["desk_url"] = _desk_url(raw)
    if (raw := get("DESK_PORT")) is not None:
        port = _int("DESK_PORT", raw)
        if not 1 <= port <= 65535:
            raise ConfigError(f"DESK_PORT: expected a port 1-65535, got {raw!r}")
        kwargs["desk_port"] = port
    if (raw := get("DESK_HOST")) is not None:
        if not re.fullmatch(r"[A-Za-z0-9.:_\-]{1,253}", raw.strip()):
            raise ConfigError(
                f"DESK_HOST: expected an address to listen on such as 127.0.0.1, got {raw!r}"
            )
        kwargs["desk_host"] = raw.strip()
    if (
        kwargs.get("desk_url")
        and not kwargs.get("webhook_url")
        and kwargs.get("health_port") == kwargs.get("desk_port", 8081)
    ):
        raise ConfigError(
            "DESK_PORT: must differ from HEALTH_PORT (/metrics is never on the public port)"
        )
    if kwargs.get("webhook_url") and not kwargs.get("webhook_secret"):
        raise ConfigError("WEBHOOK_SECRET: required when WEBHOOK_URL is set")
    if kwargs.get("webhook_url") and kwargs.get("health_port") == kwargs.get("webhook_port", 8080):
        raise ConfigError(
            "HEALTH_PORT: must differ from WEBHOOK_PORT (/metrics is never on the public port)"
        )
    if kwargs["bot_token"]:  # live: what patients are told to call is never a guess
        for name, example in (("CLINIC_PHONE", "+34 900 000 000"), ("EMERGENCY_NUMBER", "112")):
            if get(name) is None:
                raise ConfigError(
                    f"{name}: required for a live bot (the number patients are told to call), "
                    f"e.g. {name}={example}"
                )
    return Settings(**kwargs)  # type: ignore[arg-type]
