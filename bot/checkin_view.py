"""How a check-in looks in the chat: the question, its buttons, and what was answered."""

from __future__ import annotations

from aiogram import html
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.callbacks import AnswerCb, MultiAction, MultiCb
from bot.texts import t
from flows.answers import answer_options, answer_words
from flows.engine import PatientContext, QuestionRef, prompt_text, questions_for
from flows.protocol import CheckinDef, Protocol


def answer_label(protocol: Protocol, question_key: str, code: int, lang: str) -> str:
    """A stored answer in words: "7/10", "Yes", a choice, or a multi answer's choices."""
    return answer_words(protocol, protocol.question(question_key), code, lang)


TICKED, UNTICKED = "☑", "☐"


# buttons per row, by question kind; the last width repeats
ROW_WIDTHS: dict[str, tuple[int, ...]] = {"scale": (6, 5), "count": (4,), "yes_no": (2,)}


def question_keyboard(
    protocol: Protocol, checkin_id: int, ref: QuestionRef, lang: str, *, selected: int = 0
) -> InlineKeyboardMarkup:
    """The answer buttons of one question.

    Built directly rather than with aiogram's InlineKeyboardBuilder, which deep-copies
    the whole keyboard on every step: this runs on every tap. A multi question gets
    toggles (`selected`: the mask ticked so far) and a Done button.
    """
    question = protocol.question(ref.question)
    if question.kind == "multi":
        return multi_keyboard(protocol, checkin_id, ref, lang, selected)
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


def multi_keyboard(
    protocol: Protocol, checkin_id: int, ref: QuestionRef, lang: str, selected: int
) -> InlineKeyboardMarkup:
    """One toggle per row ("☑ Fever or chills" / "☐ …"), then "Done"."""
    question = protocol.question(ref.question)
    rows = [
        [
            InlineKeyboardButton(
                text=f"{TICKED if selected >> i & 1 else UNTICKED} {choice.text.get(lang)}",
                callback_data=MultiCb(
                    action=MultiAction.toggle, c=checkin_id, q=ref.key, i=i
                ).pack(),
            )
        ]
        for i, choice in enumerate(question.choices)
    ]
    done = MultiCb(action=MultiAction.done, c=checkin_id, q=ref.key).pack()
    rows.append([InlineKeyboardButton(text=f"✅ {t('btn_multi_done', lang)}", callback_data=done)])
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
