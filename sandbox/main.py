"""`make run` without a token, or `python -m bot --sandbox`: the sandbox until Ctrl-C.

One process: the local Bot API, the real bot polling it, and the page on
http://127.0.0.1:8080 (`SANDBOX_PORT`). A bad setting stops the start with one
line naming it, like a live start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Mapping

from aiohttp import ClientError

from bot.config import ConfigError, read_environment
from flows.loader import ProtocolError
from sandbox.config import SandboxConfig

log = logging.getLogger(__name__)


class SandboxStartError(Exception):
    """Something the person starting the sandbox must fix; the message is one line."""


async def run(config: SandboxConfig, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (SIGINT/SIGTERM when not given), then stop in order."""
    # imported here, as the live start does, so that a bad setting is reported at once
    from sandbox.app import Sandbox
    from sandbox.web import serve

    stop = stop or _stop_on_signals()
    sandbox = Sandbox(config)
    try:
        try:
            runner, port = await serve(sandbox, config.web_host, config.web_port)
        except OSError as exc:
            raise SandboxStartError(
                f"SANDBOX_PORT: cannot listen on {config.web_host}:{config.web_port} ({exc}); "
                "set SANDBOX_PORT to a free port"
            ) from None
        try:
            await sandbox.start()
            print(
                f"careloop sandbox: open http://{config.web_host}:{port} "
                f"(front desk, patient and therapist side by side; Ctrl-C stops)\n"
                f"From another machine: ssh -L {port}:127.0.0.1:{port} <this machine>, "
                f"then open http://127.0.0.1:{port} there.",
                flush=True,
            )
            await stop.wait()
        finally:
            await sandbox.stop()
            await runner.cleanup()
    except (ProtocolError, ConfigError) as exc:
        raise SandboxStartError(str(exc)) from None
    except (ClientError, OSError) as exc:
        raise SandboxStartError(f"the sandbox could not start ({exc})") from None


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl-C raises instead
            loop.add_signal_handler(sig, stop.set)
    return stop


def main(env: Mapping[str, str] | None = None) -> int:
    """Exit code 0 after Ctrl-C/SIGTERM, 2 when a setting is wrong."""
    values = dict(read_environment() if env is None else env)
    try:
        config = SandboxConfig.from_env(values)
        config.settings(api_url="http://127.0.0.1", token="123:sandbox-config-check", admin_id=1)
    except ConfigError as exc:
        print(f"careloop: configuration error: {exc}", file=sys.stderr)
        return 2
    # a person trying the product reads the two lines above, not migrations and updates;
    # LOG_LEVEL=INFO shows what the bot does
    level = (values.get("LOG_LEVEL") or "WARNING").strip().upper()
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # one line per update or job run drowns what the sandbox prints
    for noisy in ("aiogram.event", "apscheduler"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    # "Jump" wakes the jobs at once: a run skipped because one is under way is expected
    logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)
    try:
        asyncio.run(run(config))
    except SandboxStartError as exc:
        print(f"careloop: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    return 0
