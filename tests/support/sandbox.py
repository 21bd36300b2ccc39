"""The sandbox in-process for tests: free ports, its own database file, a pinned clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sandbox.app import Sandbox
from sandbox.config import SandboxConfig
from sandbox.web import serve
from tests.support.harness import START

# the demo clinic of a fresh `make run` (sandbox/config.py), only dispatching faster
SANDBOX_ENV = {"DISPATCH_INTERVAL_SECONDS": "0.2"}


@dataclass
class RunningSandbox:
    sandbox: Sandbox
    url: str  # the page


def sandbox_config(tmp_path: Path, **env: str) -> SandboxConfig:
    """Monday 10:00 in Madrid on a fresh database, so quiet hours never interfere."""
    return SandboxConfig(
        web_port=0,
        db_path=tmp_path / "careloop-sandbox.db",
        env={**SANDBOX_ENV, **env},
        start_at=START,
    )


@asynccontextmanager
async def running_sandbox(config: SandboxConfig) -> AsyncIterator[RunningSandbox]:
    """The page on a free port of 127.0.0.1 and the sandbox with its cast registered."""
    sandbox = Sandbox(config)
    runner, port = await serve(sandbox, config.web_host, config.web_port)
    try:
        await sandbox.start()
        yield RunningSandbox(sandbox=sandbox, url=f"http://127.0.0.1:{port}")
    finally:
        await sandbox.stop()
        await runner.cleanup()
