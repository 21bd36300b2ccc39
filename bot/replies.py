"""Small reply helpers shared by the routers."""

from __future__ import annotations

from aiogram import html
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message


async def close_with_choice(message: Message, choice: str) -> None:
    """Replace a question's buttons with the chosen answer, so the chat reads as a record
    and the old buttons cannot be tapped again."""
    if message.text is None:
        return  # a photo or a document is never a question (a forged tap): leave it alone
    await message.edit_text(f"{message.html_text}\n✓ <b>{html.quote(choice)}</b>")


async def turn_page(query: CallbackQuery, text: str, markup: InlineKeyboardMarkup) -> None:
    """Show another page of a list in the tapped message. A double tap finds the page
    already shown: Telegram refuses a no-op edit, so nothing is sent then."""
    await query.answer()
    message = query.message
    if not isinstance(message, Message) or message.text is None:
        return
    shown = message.reply_markup
    if message.html_text == text and (
        shown is not None
        and shown.model_dump(exclude_none=True) == markup.model_dump(exclude_none=True)
    ):
        return
    await message.edit_text(text, reply_markup=markup)
