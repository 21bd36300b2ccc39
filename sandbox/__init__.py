"""The sandbox: the whole journey in a browser, no Telegram token needed.

``sandbox.botapi`` is the strict local Bot API (also the tests' fake);
``sandbox.app`` runs it with the real bot in one process and serves the page.
"""
