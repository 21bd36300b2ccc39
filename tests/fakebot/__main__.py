"""`python -m tests.fakebot`: the console of the fake Bot API (now `python -m sandbox.botapi`)."""

import asyncio

from sandbox.botapi.__main__ import main

if __name__ == "__main__":
    asyncio.run(main())
