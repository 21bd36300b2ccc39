"""The clinic desk as a Telegram Mini App: the page (static/), its JSON API (api.py) and
who is asking (auth.py). The API calls the same care/ operations as the chat's buttons,
so a rule lives in one place, and an acknowledgement made here edits the chat's cards."""
