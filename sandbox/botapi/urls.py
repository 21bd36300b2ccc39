"""URL checks shared by ``<a href>``, URL buttons and Web App buttons.

Telegram validates these with tdlib's ``check_url``; the problems below are its
wordings (``Wrong HTTP URL``, ``Unsupported URL protocol`` ...), which end up in
descriptions such as ``inline keyboard button URL 'x' is invalid: Wrong HTTP URL``.
"""

from __future__ import annotations

import re

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9\-\u00a1-\uffff]{1,63}(?<!-)$")
_IPV4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def check_url(url: str, *, https_only: bool = False) -> str | None:
    """Return why ``url`` is unacceptable to Telegram, or None when it is fine.

    ``tg://`` links are accepted (``tg://user?id=N`` is how HTML mentions users);
    bare domains (``example.com``) are accepted as Telegram prefixes ``http://``.
    """
    url = url.strip()
    if not url:
        return "URL host is empty"
    match = _SCHEME.match(url)
    scheme = match.group(1).lower() if match else None
    if https_only and scheme != "https":
        return "Only HTTPS links are allowed"
    if scheme == "tg":
        return None if len(url) > len("tg://") else "Wrong tg:// URL"
    if scheme is not None and scheme not in ("http", "https"):
        return "Unsupported URL protocol"
    rest = url[match.end() :] if match else url
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host_port = authority.rsplit("@", 1)[-1]
    host, _, port = host_port.partition(":")
    if not host:
        return "URL host is empty"
    if port and (not port.isdigit() or not 0 < int(port) < 65536):
        return "Wrong port number specified in the URL"
    if _IPV4.match(host):
        return None if all(int(p) < 256 for p in host.split(".")) else "Wrong HTTP URL"
    labels = host.rstrip(".").split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return "Wrong HTTP URL"
    if labels[-1].isdigit():
        return "Wrong HTTP URL"
    return None
