"""`python -m sandbox.botapi`: the fake Bot API as a console, to try the bot by hand.

Start it, point the bot at it (`TELEGRAM_API_URL`, `BOT_TOKEN` as printed), then type
as any person, by Telegram user id:

    1000 /invite                  user 1000 sends "/invite"
    tap 1000 Therapist            user 1000 taps the newest button labelled "Therapist"
    open 2000 <link or token>     user 2000 opens a t.me deep link (/start <token>)

Everything the bot sends is printed with its buttons.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys

from sandbox.botapi.models import SentMessage
from sandbox.botapi.server import FakeBotAPI

TOKEN = "123456:TEST-TOKEN-0123456789abcdefghij"
_LINK = re.compile(r"start=([A-Za-z0-9_-]+)")


def _show(message: SentMessage) -> None:
    kind = "edited" if message.edits else "new"
    media = " [photo]" if message.photo else " [document]" if message.document else ""
    print(f"\n<- chat {message.chat_id} ({kind} #{message.message_id}){media}\n{message.text}")
    for row in message.buttons():
        print("   " + "  ".join(f"[{b}]" for b in row))


async def _printer(fake: FakeBotAPI) -> None:
    seen = fake.seq
    while True:
        await fake.wait_until(lambda s=seen: fake.seq > s, timeout=3600)  # type: ignore[misc]
        fresh = sorted((m for m in fake.sent_messages() if m.seq > seen), key=lambda m: m.seq)
        seen = fake.seq
        for message in fresh:
            _show(message)


async def _handle(fake: FakeBotAPI, line: str) -> None:
    parts = line.split(maxsplit=2)
    if not parts:
        return
    if parts[0] == "tap" and len(parts) == 3:
        user = fake.user(int(parts[1]))
        label = parts[2]
        for message in reversed(user.inbox):
            if any(label in row for row in message.buttons()):
                await user.tap(message, label)
                return
        print(f"!! no button {label!r} in chat {user.id}")
    elif parts[0] == "open" and len(parts) == 3:
        match = _LINK.search(parts[2])
        await fake.user(int(parts[1])).start(match.group(1) if match else parts[2])
    elif parts[0].isdigit():
        await fake.user(int(parts[0])).send(line.split(maxsplit=1)[1] if len(parts) > 1 else "")
    else:
        print("?? type: <user id> <text> | tap <user id> <button> | open <user id> <link>")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    fake = FakeBotAPI(token=TOKEN)
    await fake.start(args.port)
    print(f"fake Bot API at {fake.url}\nTELEGRAM_API_URL={fake.url} BOT_TOKEN={TOKEN}")
    printer = asyncio.create_task(_printer(fake))
    loop = asyncio.get_running_loop()
    try:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            try:
                await _handle(fake, line.strip())
            except Exception as exc:  # a console: report and carry on
                print(f"!! {exc}")
    finally:
        printer.cancel()
        await fake.stop()


if __name__ == "__main__":
    asyncio.run(main())
