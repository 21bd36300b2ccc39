"""What the sandbox needs to know, and the bot Settings it runs the real bot with.

The sandbox reads the same environment and `.env` as a live instance — so the
clinic's name, time zone, phone and protocol file show up in the preview — but
everything that would reach outside this machine or touch live data is replaced:
the Bot API is the local one, the database is its own SQLite file, no webhook,
no Redis, no alert group.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from bot.config import ConfigError, Settings, load_settings

DEFAULT_PORT = 8080
DEFAULT_DB_FILE = "careloop-sandbox.db"

# Live-only variables the sandbox never takes from the environment.
_LIVE_ONLY = (
    "BOT_TOKEN",
    "TELEGRAM_API_URL",
    "DATABASE_URL",
    "REDIS_URL",
    "ADMIN_IDS",
    "WEBHOOK_URL",
    "WEBHOOK_SECRET",
    "WEBHOOK_PORT",
    "WEBHOOK_HOST",
    "HEALTH_HOST",
    "HEALTH_PORT",
    "ALERT_CHAT_ID",
    "LOG_FORMAT",
    "DESK_URL",
    "DESK_PORT",
    "DESK_HOST",
)
# The desk's address in the sandbox: HTTPS as Telegram requires for a Web App; the page
# opens its path on the sandbox's own server (sandbox/web.py mounts the desk at /desk/).
DESK_URL = "https://127.0.0.1/desk/"
# Sandbox defaults that make the preview feel immediate; the environment may override.
# the demo clinic's numbers (a live bot must set its own: bot/config.py requires them)
#: The demo clinic a fresh `make run` shows (the README's screenshots are of it); a
#: `.env` or the environment overrides any of them.
DEMO_CLINIC = {
    "CLINIC_NAME": "Clínica Río & Mar",
    "CLINIC_TIMEZONE": "Europe/Madrid",
    "CLINIC_PHONE": "+34 900 123 456",
    "EMERGENCY_NUMBER": "112",
}
_DEFAULTS = {"DISPATCH_INTERVAL_SECONDS": "1", **DEMO_CLINIC}


@dataclass(frozen=True)
class SandboxConfig:
    """Where the page and the database live, and the environment the bot starts from.

    `start_at` pins protocol time for a fresh database (tests use a Monday morning,
    so quiet hours never get in the way); `None` starts at the real current time.
    """

    web_host: str = "127.0.0.1"
    web_port: int = DEFAULT_PORT
    db_path: Path = Path(DEFAULT_DB_FILE)
    env: Mapping[str, str] = field(default_factory=dict)
    start_at: datetime | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SandboxConfig:
        """Read `SANDBOX_PORT` (ConfigError naming it when bad) and keep `env` for the bot."""
        port = DEFAULT_PORT
        raw = (env.get("SANDBOX_PORT") or "").strip()
        if raw:
            if not raw.isdigit() or not 1 <= int(raw) <= 65535:
                raise ConfigError(f"SANDBOX_PORT: expected a port 1-65535, got {raw!r}")
            port = int(raw)
        return cls(web_port=port, env=dict(env))

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.db_path.resolve()}"

    def settings(self, *, api_url: str, token: str, admin_id: int) -> Settings:
        """The bot's Settings against the local Bot API (ConfigError names a bad variable)."""
        env = {k: v for k, v in self.env.items() if k not in _LIVE_ONLY}
        for key, value in _DEFAULTS.items():
            env.setdefault(key, value)
        env.update(
            BOT_TOKEN=token,
            TELEGRAM_API_URL=api_url,
            DATABASE_URL=self.database_url,
            ADMIN_IDS=str(admin_id),
            DESK_URL=DESK_URL,
        )
        return load_settings(env)
