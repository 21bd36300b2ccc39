"""`python -m bot`: check the configuration, migrate the database, run the bot.

Without a token (or with `--sandbox`) it starts the sandbox instead: the bot against
a local Bot API, played in a browser (see sandbox/).
"""

from __future__ import annotations

import asyncio
import logging
import sys

from bot.config import ConfigError, MissingTokenError, load_settings, read_environment

NO_TOKEN_LINE = (
    "careloop: no BOT_TOKEN, so starting the sandbox. To go live, get a token from "
    "@BotFather (/newbot) and put BOT_TOKEN=... in .env (see .env.example)."
)


def _sandbox() -> int:
    from sandbox.main import main as sandbox_main

    return sandbox_main()


def main() -> int:
    if "--sandbox" in sys.argv[1:]:
        return _sandbox()
    try:
        settings = load_settings(read_environment())
    except MissingTokenError:
        print(NO_TOKEN_LINE, file=sys.stderr)
        return _sandbox()
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
