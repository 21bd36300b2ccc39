"""Decoding a Bot API request body the way Telegram accepts it, and typed access.

Telegram takes the query string, ``application/x-www-form-urlencoded``,
``multipart/form-data`` (aiogram's choice; files as parts, referenced from a field
as ``attach://<part>``) and ``application/json``. In forms every value is a string
and structured fields (``reply_markup``, ``scope`` ...) are JSON strings; they are
decoded here so handlers and the request log see real dicts and lists.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from sandbox.botapi import errors
from sandbox.botapi.errors import ApiError, bad_request
from sandbox.botapi.models import UploadedFile

JSON_FIELDS = frozenset(
    {
        "reply_markup", "scope", "allowed_updates", "commands", "entities",
        "caption_entities", "menu_button", "link_preview_options", "reply_parameters",
        "media", "results", "permissions", "reaction", "options",
    }
)  # fmt: skip
_TRUE = {"true", "1", "yes", "on"}


class Params:
    """The decoded parameters of one call, with Telegram-style coercion."""

    def __init__(self, values: dict[str, Any], files: dict[str, UploadedFile] | None = None):
        self.values = values
        self.files = files or {}

    def __contains__(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def get(self, name: str) -> Any:
        """The raw decoded value (None when absent)."""
        return self.values.get(name)

    def string(self, name: str) -> str | None:
        """A string parameter; numbers are accepted and converted, like Telegram."""
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, (dict, list)):
            return json.dumps(value)
        return value if isinstance(value, str) else str(value)

    def integer(self, name: str, *, missing: str | None = None) -> int | None:
        """An integer parameter; ``missing`` is the 400 description when it is required."""
        value = self.values.get(name)
        if value is None or value == "":
            if missing is not None:
                raise bad_request(missing)
            return None
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise bad_request(f'field "{name}" must be of type Integer') from None

    def flag(self, name: str) -> bool:
        """A boolean parameter (``true``/``false`` strings in forms)."""
        value = self.values.get(name)
        if isinstance(value, bool):
            return value
        if value is None:
            return False
        return str(value).strip().lower() in _TRUE

    def file(self, name: str) -> UploadedFile | str | None:
        """An input file: the upload, or a string (file_id / URL); ``attach://`` resolved."""
        value = self.values.get(name)
        if isinstance(value, UploadedFile):
            return value
        if isinstance(value, str) and value.startswith("attach://"):
            part = self.files.get(value[len("attach://") :])
            if part is None:
                raise bad_request(f'file part "{value[len("attach://") :]}" not found')
            return part
        if value is None or value == "":
            return None
        return str(value)

    def loggable(self) -> dict[str, Any]:
        """The parameters as they appear in the request log (uploads summarised)."""
        out: dict[str, Any] = {}
        for key, value in self.values.items():
            if isinstance(value, UploadedFile):
                out[key] = value.describe()
            elif isinstance(value, str) and value.startswith("attach://"):
                part = self.files.get(value[len("attach://") :])
                out[key] = part.describe() if part else value
            else:
                out[key] = value
        return out


def _decode_json_fields(values: dict[str, Any]) -> None:
    for key in JSON_FIELDS & values.keys():
        value = values[key]
        if isinstance(value, str) and value.strip()[:1] in ("{", "["):
            try:
                values[key] = json.loads(value)
            except ValueError:
                pass  # left as a string; the handler refuses it with Telegram's wording


def _drop_referenced(values: dict[str, Any]) -> None:
    """A part referenced through ``attach://`` is not a parameter of its own."""
    referenced = {
        v[len("attach://") :]
        for v in values.values()
        if isinstance(v, str) and v.startswith("attach://")
    }
    for name in referenced:
        if isinstance(values.get(name), UploadedFile):
            del values[name]


def _form(post: MultiDictProxy[Any]) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    values: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    for key, value in post.items():
        if isinstance(value, web.FileField):
            upload = UploadedFile(value.file.read(), value.filename, value.content_type)
            files[key] = upload
            values.setdefault(key, upload)
        else:
            values[key] = value
    _drop_referenced(values)
    return values, files


async def decode_request(request: web.Request) -> Params:
    """Read query string and body into :class:`Params`; 400 on a malformed JSON body."""
    values: dict[str, Any] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.can_read_body:
        content_type = request.content_type
        if content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad_request("can't parse JSON encoded request body") from None
            if not isinstance(body, dict):
                raise bad_request("JSON object expected as request body")
            values.update(body)
        elif content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
            try:
                post = await request.post()
            except web.HTTPRequestEntityTooLarge:
                raise ApiError(413, errors.ENTITY_TOO_LARGE) from None
            form_values, files = _form(post)
            values.update(form_values)
    _decode_json_fields(values)
    return Params(values, files)


async def decode_multipart_reply(reader: Any) -> Params:
    """Decode a webhook reply written as multipart form (aiogram's format)."""
    values: dict[str, Any] = {}
    files: dict[str, UploadedFile] = {}
    while True:
        part = await reader.next()
        if part is None:
            break
        name = part.name or ""
        data = await part.read(decode=True)
        if part.filename:
            files[name] = UploadedFile(bytes(data), part.filename, part.headers.get("Content-Type"))
            values.setdefault(name, files[name])
        else:
            values[name] = bytes(data).decode("utf-8")
    _drop_referenced(values)
    _decode_json_fields(values)
    return Params(values, files)
