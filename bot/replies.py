"""Small reply helpers shared by the routers."""

from __future__ import annotations

from aiogram import html
from aiogram.types import Message


async def close_with_choice(message: Message, choice: str) -> None:
    """Replace a question's buttons with the chosen answer, so the chat reads as a record
    and the old buttons cannot be tapped again."""
    if message.text is None:
        return  # a photo or a document is never a question (a forged tap): leave it alone
    await message.edit_text(f"{message.html_text}\n✓ <b>{html.quote(choice)}</b>")
