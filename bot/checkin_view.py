"""How a check-in looks in the chat: the question, its buttons, and what was answered."""

from __future__ import annotations

from aiogram import html
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import AnswerCb
from flows.answers import answer_options
from flows.engine import PatientContext, QuestionRef, prompt_text, questions_for
from flows.protocol import CheckinDef, Protocol


def answer_label(protocol: Protocol, question_key: str, code: int, lang: str) -> str:
    question = protocol.question(question_key)
    for option in answer_options(protocol, question):
        if option.code == code:
            label = option.label.get(lang)
            return f"{label}/10" if question.kind == "scale" else label
    return str(code)


# buttons per row, by question kind; the last width repeats
ROW_WIDTHS: dict[str, tuple[int, ...]] = {"scale": (6, 5), "count": (4,), "yes_no": (2,)}


def question_keyboard(
    protocol: Protocol, checkin_id: int, ref: QuestionRef, lang: str
) -> InlineKeyboardMarkup:
    """The answer buttons of one question.

    Built directly rather than with aiogram's InlineKeyboardBuilder, which deep-copies
    the whole keyboard on every step: this runs on every tap.
    """
    question = protocol.question(ref.question)
    buttons = [
        InlineKeyboardButton(
            text=option.label.get(lang)[:64],
            callback_data=AnswerCb(c=checkin_id, q=ref.key, v=option.code).pack(),
        )
        for option in answer_options(protocol, question)
    ]
    widths = ROW_WIDTHS.get(question.kind, (1,))
    rows: list[list[InlineKeyboardButton]] = []
    while buttons:
        width = widths[min(len(rows), len(widths) - 1)]
        rows.append(buttons[:width])
        buttons = buttons[width:]
    return InlineKeyboardMarkup(inline_keyboard=rows)


def checkin_text(
    protocol: Protocol,
    definition: CheckinDef,
    ctx: PatientContext | None,
    answered: dict[str, int],
    ref: QuestionRef | None,
    lang: str,
    *,
    closing: str | None = None,
) -> str:
    """The intro, the answers so far, then the current question (or a closing line)."""
    lines = [html.quote(definition.intro.get(lang))]
    refs = questions_for(definition, ctx) if ctx is not None else []
    by_key = {r.key: r for r in refs}
    for key, code in answered.items():
        shown = by_key.get(key)
        prompt = prompt_text(protocol, shown, lang) if shown else key
        label = answer_label(protocol, key, code, lang)
        lines.append(f"✓ {html.quote(prompt)} — <b>{html.quote(label)}</b>")
    if ref is not None:
        total = len(refs) or 1
        position = min(len(answered) + 1, total)
        lines.append("")
        lines.append(f"<b>{position}/{total}</b> {html.quote(prompt_text(protocol, ref, lang))}")
    elif closing:
        lines.append("")
        lines.append(closing)
    return "\n".join(lines)
