"""`python -m bot` without a token (and `--sandbox` with one) starts the sandbox."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp

from tests.support.harness import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _start_and_stop(cwd: Path, env: dict[str, str], *args: str) -> list[str]:
    """Start the process, wait for the address it prints, load the page, SIGTERM it.

    Returns everything it printed (stdout and stderr together).
    """
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        cwd=cwd,
        env={**base, "PYTHONPATH": str(ROOT), "SANDBOX_PORT": str(port), **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not any("careloop sandbox: open" in line for line in lines):
                raw = await proc.stdout.readline()
                assert raw, "the process ended early:\n" + "".join(lines)
                lines.append(raw.decode())
        assert f"http://127.0.0.1:{port}" in lines[-1]
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/") as page:
            assert page.status == 200
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        rest, _ = await asyncio.wait_for(proc.communicate(), timeout=30)
        lines.append(rest.decode())
    assert proc.returncode == 0, "".join(lines)
    return lines


async def test_without_a_token_the_sandbox_starts_and_says_how_to_go_live(
    tmp_path: Path,
) -> None:
    output = "".join(await _start_and_stop(tmp_path, {}))
    assert "@BotFather" in output and ".env" in output
    assert "Traceback" not in output
    # what a person needs, not the machinery: no migration or polling chatter, and how to
    # reach the page from the machine they sit at
    assert "alembic" not in output and "Running upgrade" not in output
    assert "Start polling" not in output
    assert "ssh -L" in output
    assert (tmp_path / "careloop-sandbox.db").is_file()
    assert not (tmp_path / "careloop.db").exists()  # a live database is never touched


async def test_sandbox_flag_starts_the_sandbox_even_with_a_token(tmp_path: Path) -> None:
    token = "123456:TEST-TOKEN-0123456789abcdefghij"
    output = "".join(await _start_and_stop(tmp_path, {"BOT_TOKEN": token}, "--sandbox"))
    assert "no BOT_TOKEN" not in output and "Traceback" not in output


async def test_a_bad_sandbox_port_is_one_line(tmp_path: Path) -> None:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--sandbox",
        cwd=tmp_path,
        env={**base, "PYTHONPATH": str(ROOT), "SANDBOX_PORT": "http"},
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 2
    assert err.decode().strip() == (
        "careloop: configuration error: SANDBOX_PORT: expected a port 1-65535, got 'http'"
    )
