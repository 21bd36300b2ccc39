"""The strict fake Bot API, under its old name for the tests.

It moved to :mod:`sandbox.botapi` when the sandbox (``make run`` without a token)
made it part of the product; tests keep importing ``from tests.fakebot import …``.
"""

from sandbox.botapi import (
    FakeBotAPI,
    Faults,
    RateLimiter,
    RecordedRequest,
    SentMessage,
    SimChat,
    SimUser,
    StoredFile,
)

__all__ = [
    "FakeBotAPI",
    "Faults",
    "RateLimiter",
    "RecordedRequest",
    "SentMessage",
    "SimChat",
    "SimUser",
    "StoredFile",
]
