"""The sandbox (its page, API and browser run) and the strict fake Bot API's own tests."""
