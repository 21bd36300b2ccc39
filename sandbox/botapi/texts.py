"""Message text and caption rules: parse mode, explicit entities, trimming, length.

This is where a message body is turned into what Telegram would store — visible
text plus entities — or refused with Telegram's description. Order of checks
follows the real server: a missing/empty raw text first, then parsing, then the
trimmed result's emptiness and length (counted in UTF-16 code units, as Telegram
counts, so an emoji-heavy text hits the limit sooner than ``len()`` suggests).

MarkdownV2 and Markdown are accepted but not validated: the fake has no Markdown
parser, the text is stored as sent. The project uses HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.botapi import errors
from sandbox.botapi.errors import ApiError, bad_request
from sandbox.botapi.html_check import HtmlError, parse_html, utf16_len
from sandbox.botapi.urls import check_url

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
ENTITY_TYPES = frozenset(
    {
        "mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number",
        "bold", "italic", "underline", "strikethrough", "spoiler", "blockquote",
        "expandable_blockquote", "code", "pre", "text_link", "text_mention", "custom_emoji",
    }
)  # fmt: skip


@dataclass
class FormattedText:
    """A body as Telegram stores it: trimmed visible text and its entities."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)
    raw: str = ""
    parse_mode: str | None = None

    def same_content(self, text: str, entities: list[dict[str, Any]]) -> bool:
        """True when an edit to this content would change nothing visible."""
        return self.text == text and self.entities == entities


def _check_entities(text: str, entities: Any) -> list[dict[str, Any]]:
    if not isinstance(entities, list):
        raise bad_request("can't parse entities JSON object")
    total = utf16_len(text)
    checked: list[dict[str, Any]] = []
    for entity in entities:
        if not isinstance(entity, dict):
            raise bad_request("can't parse MessageEntity: MessageEntity must be an Object")
        kind = entity.get("type")
        if kind not in ENTITY_TYPES:
            raise bad_request("can't parse MessageEntity: Unsupported type specified")
        offset, length = entity.get("offset"), entity.get("length")
        if not isinstance(offset, int) or not isinstance(length, int):
            raise bad_request('can\'t parse MessageEntity: Field "offset" must be a valid Number')
        if offset < 0:
            raise bad_request(f"receive an entity with incorrect offset {offset}")
        if offset > total:
            raise bad_request(f"entity begins after the end of the text at UTF-16 offset {offset}")
        if offset + length > total:
            raise bad_request(
                f"entity beginning at UTF-16 offset {offset} ends after the end of the text "
                f"at UTF-16 offset {offset + length}"
            )
        if kind == "text_link":
            url = entity.get("url")
            if url is None:
                raise bad_request("can't parse MessageEntity: Can't find field \"url\"")
            problem = check_url(str(url))
            if problem:
                raise bad_request(f"entity URL '{url}' is invalid: {problem}")
        checked.append(dict(entity))
    return checked


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """Strip surrounding whitespace like Telegram, moving entities with the text."""
    stripped = text.strip()
    if stripped == text:
        return text, entities
    lead = utf16_len(text[: len(text) - len(text.lstrip())])
    keep_end = lead + utf16_len(stripped)
    moved: list[dict[str, Any]] = []
    for entity in entities:
        start = max(entity["offset"], lead)
        end = min(entity["offset"] + entity["length"], keep_end)
        if end > start:
            moved.append({**entity, "offset": start - lead, "length": end - start})
    return stripped, moved


def format_body(
    raw: str | None,
    parse_mode: str | None,
    entities: Any = None,
    *,
    caption: bool = False,
) -> FormattedText:
    """Validate a message text (or caption) and return what Telegram would store.

    Raises :class:`ApiError` with Telegram's description on any problem. An absent
    caption is fine (returns an empty body); an absent text is not.
    """
    if raw is None or raw == "":
        if caption:
            return FormattedText("", [], "", parse_mode)
        raise ApiError(400, errors.TEXT_EMPTY)
    mode = (parse_mode or "").strip().lower() or None
    if entities is not None:
        text, found = raw, _check_entities(raw, entities)
    elif mode is None or mode in ("markdown", "markdownv2"):
        text, found = raw, []
    elif mode == "html":
        try:
            parsed = parse_html(raw)
        except HtmlError as exc:
            raise ApiError(400, errors.PARSE_ENTITIES + str(exc)) from None
        text, found = parsed.text, parsed.entities
    else:
        raise ApiError(400, errors.UNSUPPORTED_PARSE_MODE)
    text, found = _trim(text, found)
    if not text:
        if caption:
            return FormattedText("", [], raw, parse_mode)
        raise ApiError(400, errors.TEXT_NON_EMPTY)
    limit = CAPTION_LIMIT if caption else TEXT_LIMIT
    if utf16_len(text) > limit:
        raise ApiError(400, errors.CAPTION_TOO_LONG if caption else errors.TOO_LONG)
    return FormattedText(text, found, raw, parse_mode)
