"""Configuration: every bad value stops the start with one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, MissingTokenError, load_settings
from tests.support.harness import LIVE, ROOT, TOKEN


def test_defaults() -> None:
    settings = load_settings(LIVE)
    assert settings.database_url == "sqlite+aiosqlite:///careloop.db"
    assert settings.clinic_timezone.key == "UTC"
    assert settings.emergency_number == "112"
    assert settings.time_scale == 1.0
    assert settings.invite_ttl.total_seconds() == 72 * 3600
    assert settings.health_port is None  # no /metrics server unless asked for
    assert settings.health_host == "127.0.0.1"  # and then on this machine only


def test_missing_token() -> None:
    with pytest.raises(MissingTokenError):
        load_settings({})


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("BOT_TOKEN", "not-a-token", "BOT_TOKEN: expected a token"),
        ("TELEGRAM_API_URL", "ftp://x", "TELEGRAM_API_URL: expected a URL"),
        ("DATABASE_URL", "mysql://x", "DATABASE_URL: expected sqlite+aiosqlite"),
        ("REDIS_URL", "http://x", "REDIS_URL: expected a URL"),
        ("ADMIN_IDS", "12,abc", "ADMIN_IDS: expected comma-separated Telegram user ids"),
        ("CLINIC_TIMEZONE", "Mars/Base", "CLINIC_TIMEZONE: expected an IANA time zone"),
        ("DESK_URL", "http://clinic.example/desk/", "DESK_URL: expected the desk's public HTTPS"),
        ("DESK_URL", "https:///desk", "DESK_URL: expected the desk's public HTTPS"),
        ("DESK_URL", "https://clinic.example/desk?x=1", "DESK_URL: expected an address without"),
        ("DESK_PORT", "0", "DESK_PORT: expected a port 1-65535"),
        ("DESK_HOST", "a b", "DESK_HOST: expected an address to listen on"),
        ("CLINIC_TIMEZONE", "Europe", "CLINIC_TIMEZONE: expected an IANA time zone"),
        ("CLINIC_PHONE", "call us!", "CLINIC_PHONE: expected a phone number"),
        ("EMERGENCY_NUMBER", "nine-one-one", "EMERGENCY_NUMBER: expected a short number"),
        ("PROTOCOL_FILE", "/nonexistent/protocol.toml", "PROTOCOL_FILE: no such file"),
        ("TIME_SCALE", "0", "TIME_SCALE: expected a positive number"),
        ("TIME_SCALE", "fast", "TIME_SCALE: expected a positive number"),
        ("WEBHOOK_PORT", "70000", "WEBHOOK_PORT: expected a port"),
        ("WEBHOOK_SECRET", "has spaces", "WEBHOOK_SECRET: expected 1-256 characters"),
        ("WEBHOOK_SECRET", "a" * 31, "WEBHOOK_SECRET: expected at least 32 characters, got 31"),
        ("WEBHOOK_SECRET", "change-me", "WEBHOOK_SECRET: expected at least 32 characters"),
        ("HEALTH_HOST", "0.0.0.0; rm", "HEALTH_HOST: expected an address"),
        ("ALERT_CHAT_ID", "group", "ALERT_CHAT_ID: expected a whole number"),
        ("LOG_LEVEL", "LOUD", "LOG_LEVEL: expected one of"),
        ("INVITE_TTL_HOURS", "-1", "INVITE_TTL_HOURS: expected a positive number"),
    ],
)
def test_bad_values_name_the_variable(name: str, value: str, expected: str) -> None:
    env = {**LIVE, name: value}
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert str(info.value).startswith(expected)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("missing", ["CLINIC_PHONE", "EMERGENCY_NUMBER"])
def test_live_bot_needs_the_numbers_patients_call(missing: str) -> None:
    """No clinic phone once made a 9/10 patient read "call the clinic on our clinic", and
    the emergency number silently defaulted to 112 (clinical.md, "What the patient is
    told"): a live bot does not start without either."""
    env = {k: v for k, v in LIVE.items() if k != missing}
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert str(info.value).startswith(f"{missing}: required for a live bot")
    assert "\n" not in str(info.value)
    with pytest.raises(ConfigError, match=f"{missing}: required"):
        load_settings({**env, missing: "  "})  # blank is missing too


def test_sandbox_ships_demo_numbers(tmp_path: Path) -> None:
    from sandbox.config import SandboxConfig

    config = SandboxConfig(db_path=tmp_path / "sandbox.db")
    settings = config.settings(api_url="http://127.0.0.1:1", token=TOKEN, admin_id=1)
    assert settings.clinic_phone and settings.emergency_number == "112"


def test_the_readme_shows_the_sandbox_a_fresh_run_starts(tmp_path: Path) -> None:
    """The README's sandbox section names the demo clinic the screenshots show."""
    from sandbox.config import DEMO_CLINIC, SandboxConfig

    settings = SandboxConfig(db_path=tmp_path / "sandbox.db").settings(
        api_url="http://127.0.0.1:1", token=TOKEN, admin_id=1
    )
    assert settings.clinic_name == DEMO_CLINIC["CLINIC_NAME"]
    assert settings.clinic_timezone.key == DEMO_CLINIC["CLINIC_TIMEZONE"]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## The sandbox") :]
    for value in DEMO_CLINIC.values():
        assert value in section, value


def test_live_start_without_the_clinic_phone_prints_one_line(tmp_path: Path) -> None:
    result = _run_bot({"BOT_TOKEN": TOKEN, "EMERGENCY_NUMBER": "112"}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("careloop: configuration error: CLINIC_PHONE: required")


def test_webhook_needs_a_secret() -> None:
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET: required"):
        load_settings({**LIVE, "WEBHOOK_URL": "https://bot.example.org/hook"})


def test_webhook_secret_of_32_characters_is_taken() -> None:
    secret = "a" * 32
    settings = load_settings({**LIVE, "WEBHOOK_SECRET": secret})
    assert settings.webhook_secret == secret


def test_metrics_port_cannot_be_the_webhook_port() -> None:
    env = {
        **LIVE,
        "WEBHOOK_URL": "https://bot.example.org/hook",
        "WEBHOOK_SECRET": "s" * 40,
        "WEBHOOK_PORT": "8443",
        "HEALTH_PORT": "8443",
    }
    with pytest.raises(ConfigError, match="HEALTH_PORT: must differ from WEBHOOK_PORT"):
        load_settings(env)
    settings = load_settings({**env, "HEALTH_PORT": "9090", "HEALTH_HOST": "10.0.0.5"})
    assert (settings.health_port, settings.health_host) == (9090, "10.0.0.5")


def _run_bot(env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        env={**base, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# Without a token `python -m bot` starts the sandbox: tests/sandbox/test_process.py


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "postgresql+asyncpg://careloop@db.example.org/careloop"),
        ("WEBHOOK_URL", "https://bot.example.org/telegram"),
        ("REDIS_URL", "redis://127.0.0.1:6379/0"),
    ],
)
def test_live_settings_without_a_token_refuse_instead_of_the_sandbox(
    tmp_path: Path, name: str, value: str
) -> None:
    """A live deployment whose token went missing must not quietly run a demo (the bad
    SANDBOX_PORT makes the old behaviour, starting the sandbox, fail fast instead)."""
    result = _run_bot({name: value, "SANDBOX_PORT": "0"}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("careloop: configuration error: BOT_TOKEN: not set, but ")
    assert f"{name} is" in lines[0]
    assert "sandbox" in lines[0] and value not in lines[0]  # the URL may carry a password
    assert list(tmp_path.iterdir()) == []  # no sandbox database was created


def test_live_settings_in_env_file_without_a_token_refuse(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("BOT_TOKEN=\nREDIS_URL=redis://127.0.0.1:6379/0\n")
    result = _run_bot({"SANDBOX_PORT": "0"}, tmp_path)
    assert result.returncode == 2
    assert "BOT_TOKEN: not set, but REDIS_URL is" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


def test_start_with_bad_value_prints_one_line(tmp_path: Path) -> None:
    result = _run_bot({"BOT_TOKEN": TOKEN, "CLINIC_TIMEZONE": "Mars/Base"}, tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "careloop: configuration error: CLINIC_TIMEZONE: expected an IANA time zone such as "
        "Europe/Madrid, got 'Mars/Base'"
    ]


def test_env_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"BOT_TOKEN={TOKEN}\nLOG_LEVEL=LOUD\n")
    result = _run_bot({}, tmp_path)
    assert result.returncode == 2
    assert "LOG_LEVEL: expected one of" in result.stderr


def test_broken_protocol_file_stops_the_start(tmp_path: Path) -> None:
    broken = tmp_path / "protocol.toml"
    broken.write_text("[protocol\n")
    result = _run_bot(
        {
            **LIVE,
            "PROTOCOL_FILE": str(broken),
            "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}",
        },
        tmp_path,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("careloop: PROTOCOL_FILE:")
    assert "protocol.toml" in lines[0]


def test_desk_url_is_kept_with_a_trailing_slash_and_off_by_default() -> None:
    assert load_settings(LIVE).desk_url is None
    settings = load_settings({**LIVE, "DESK_URL": "https://clinic.example/desk"})
    assert (settings.desk_url, settings.desk_port) == ("https://clinic.example/desk/", 8081)


def test_desk_port_cannot_be_the_metrics_port() -> None:
    env = {**LIVE, "DESK_URL": "https://clinic.example/desk/", "DESK_PORT": "9090"}
    with pytest.raises(ConfigError, match="DESK_PORT: must differ from HEALTH_PORT"):
        load_settings({**env, "HEALTH_PORT": "9090"})
