"""Telegram HTML → HTML that is safe to put in the page.

The local Bot API already refused anything Telegram would not parse, so what
arrives here is well formed; the page still never trusts it. Only the tags
Telegram itself renders survive (b, i, u, s, code, pre, a, spoiler, blockquote),
links keep an http(s) address and nothing else, every other character is escaped.
Bare URLs are made clickable as a Telegram client does, and a deep link to the
sandbox's own bot is marked so the page can open it in the patient's pane.
"""

from __future__ import annotations

import re
from html import escape
from html.parser import HTMLParser

_SIMPLE = {
    "b": "b",
    "strong": "b",
    "i": "i",
    "em": "i",
    "u": "u",
    "ins": "u",
    "s": "s",
    "strike": "s",
    "del": "s",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_URL = re.compile(r"https?://[^\s<>\"']+")
_TRAILING = ".,;:!?)"


def _deep_link_token(url: str, bot_username: str) -> str | None:
    match = re.fullmatch(
        rf"https://t\.me/{re.escape(bot_username)}\?start=([A-Za-z0-9_-]{{1,64}})", url
    )
    return match.group(1) if match else None


def link_html(url: str, label: str, bot_username: str) -> str:
    """An anchor for `url` showing `label` (already escaped); deep links get a marker."""
    token = _deep_link_token(url, bot_username)
    if token is not None:
        return (
            f'<a href="{escape(url)}" class="deeplink" data-start="{escape(token)}">{label}</a>'
        )
    return f'<a href="{escape(url)}" target="_blank" rel="noopener noreferrer">{label}</a>'


def linkify(text: str, bot_username: str) -> str:
    """Escape plain text, turning bare http(s) URLs into links."""
    out: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        url = match.group(0).rstrip(_TRAILING)
        end = match.start() + len(url)
        out.append(escape(text[last : match.start()]))
        out.append(link_html(url, escape(url), bot_username))
        last = end
    out.append(escape(text[last:]))
    return "".join(out)


class _Sanitizer(HTMLParser):
    def __init__(self, bot_username: str) -> None:
        super().__init__(convert_charrefs=True)
        self.bot_username = bot_username
        self.out: list[str] = []
        self.closers: list[str] = []  # what each open tag closes with ("" = dropped tag)
        self.in_link = 0
        self.in_code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {k: v or "" for k, v in attrs}
        if tag in _SIMPLE:
            name = _SIMPLE[tag]
            self.out.append(f"<{name}>")
            self.closers.append(f"</{name}>")
            self.in_code += name in ("code", "pre")
        elif tag == "tg-spoiler" or (tag == "span" and attributes.get("class") == "tg-spoiler"):
            self.out.append('<span class="spoiler">')
            self.closers.append("</span>")
        elif tag == "a" and attributes.get("href", "").startswith(("http://", "https://")):
            anchor = link_html(attributes["href"], "", self.bot_username)
            self.out.append(anchor.removesuffix("</a>"))
            self.closers.append("</a>")
            self.in_link += 1
        else:  # tg:// links, tg-emoji and the like: keep the text, drop the tag
            self.closers.append("")

    def handle_endtag(self, tag: str) -> None:
        if not self.closers:
            return
        closer = self.closers.pop()
        self.in_link -= closer == "</a>"
        self.in_code -= closer in ("</code>", "</pre>")
        self.out.append(closer)

    def handle_data(self, data: str) -> None:
        if self.in_link or self.in_code:
            self.out.append(escape(data))
        else:
            self.out.append(linkify(data, self.bot_username))

    def result(self) -> str:
        return "".join(self.out) + "".join(reversed(self.closers))


def safe_html(raw: str, parse_mode: str | None, bot_username: str) -> str:
    """The page's HTML for a message's text or caption as the bot sent it."""
    if (parse_mode or "").lower() != "html":
        return linkify(raw, bot_username)
    parser = _Sanitizer(bot_username)
    parser.feed(raw)
    parser.close()
    return parser.result()
