"""Mini App launch data, signed as Telegram signs it.

When a person opens a Web App (a `web_app` button, a menu button), Telegram hands the
page `initData`: a query string of `query_id`, `user` (JSON), `auth_date` and `hash`,
the HMAC-SHA256 of the sorted `key=value` lines under the key
HMAC-SHA256("WebAppData", bot token)
(https://core.telegram.org/bots/webapps#validating-data-received-via-the-web-app).
The local Bot API knows the token, so it can sign what the sandbox's panes open.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime
from typing import Any
from urllib.parse import urlencode


def sign_init_data(
    token: str, user: dict[str, Any], *, auth_date: datetime, query_id: str | None = None
) -> str:
    """The `initData` string for `user` (id, first_name, … as Telegram's WebAppUser)."""
    fields = {
        "query_id": query_id or "AA" + secrets.token_urlsafe(16),
        "user": json.dumps(user, ensure_ascii=False, separators=(",", ":")),
        "auth_date": str(int(auth_date.timestamp())),
    }
    check = "\n".join(f"{k}={v}" for k, v in sorted(fields.items()))
    secret = hmac.new(b"WebAppData", token.encode(), hashlib.sha256).digest()
    fields["hash"] = hmac.new(secret, check.encode(), hashlib.sha256).hexdigest()
    return urlencode(fields)
