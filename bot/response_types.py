"""Keep aiogram's parsed-response model classes alive for the life of the process.

aiogram parses every Bot API answer with ``Response[method.__returning__]``, a
pydantic generic model parametrised on the call. Pydantic caches parametrised
classes in a ``WeakValueDictionary``, so once the garbage collector has run, the
next answer builds the class again, schema and validator included: about 10 ms
of CPU, many times a second on a busy bot (measured with ``bench/updates.py``,
see docs/benchmarks.md). Holding one strong reference to each class makes that
cache hit every time. There are about 40 distinct return types; building them
all once takes a few tens of milliseconds at start.
"""

from __future__ import annotations

import inspect
from typing import Any

import aiogram.methods
from aiogram.methods.base import Response, TelegramMethod

_PINNED: dict[str, Any] = {}


def pin_response_types() -> int:
    """Build ``Response[T]`` for every Bot API method's return type and keep it.

    Idempotent; returns how many classes are held.
    """
    for _, method in inspect.getmembers(aiogram.methods, inspect.isclass):
        if issubclass(method, TelegramMethod) and method is not TelegramMethod:
            returning = method.__returning__
            key = repr(returning)
            if key not in _PINNED:
                _PINNED[key] = Response[returning]  # type: ignore[valid-type]
    return len(_PINNED)
