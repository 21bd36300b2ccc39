"""`python -m bot`: check the configuration, migrate the database, run the bot."""

from __future__ import annotations

import asyncio
import logging
import sys

from bot.config import ConfigError, MissingTokenError, load_settings, read_environment

BOTFATHER_HELP = """careloop needs a Telegram bot token to start.

  1. In Telegram, open @BotFather and send /newbot; choose a name and a username.
  2. BotFather replies with a token like 123456789:AAE...; copy it.
  3. Put it in a file named .env next to this README:  BOT_TOKEN=123456789:AAE...
     (copy .env.example to .env and fill it in), then run `make run` again.
"""


def main() -> int:
    try:
        settings = load_settings(read_environment())
    except MissingTokenError:
        print(BOTFATHER_HELP, file=sys.stderr)
        return 2
    except ConfigError as exc:
        print(f"careloop: configuration error: {exc}", file=sys.stderr)
        return 2
    from bot.runner import StartupError, run

    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # one line per job run is noise at INFO; APScheduler's warnings still show
    logging.getLogger("apscheduler").setLevel(max(logging.WARNING, logging.getLogger().level))
    try:
        asyncio.run(run(settings))
    except StartupError as exc:
        print(f"careloop: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
