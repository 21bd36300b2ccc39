"""How a check-in looks in the chat: the question, its buttons, and what was answered."""

from __future__ import annotations

from aiogram import html
from aiogram.types import InlineKeyboardMarkup
from aiogram.utils.keyboard import InlineKeyboardBuilder

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


def question_keyboard(
    protocol: Protocol, checkin_id: int, ref: QuestionRef, lang: str
) -> InlineKeyboardMarkup:
    question = protocol.question(ref.question)
    builder = InlineKeyboardBuilder()
    options = answer_options(protocol, question)
    for option in options:
        builder.button(
            text=option.label.get(lang)[:64],
            callback_data=AnswerCb(c=checkin_id, q=ref.key, v=option.code),
        )
    if question.kind == "scale":
        builder.adjust(6, 5)
    elif question.kind == "count":
        builder.adjust(4, 4)
    elif question.kind == "yes_no":
        builder.adjust(2)
    else:
        builder.adjust(1)
    return builder.as_markup()


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
