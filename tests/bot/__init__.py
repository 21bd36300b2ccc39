"""The Telegram edge in process: configuration, middlewares, webhook input, operations, and
handlers under hostile, concurrent or failing input (not whole journeys: tests/e2e)."""
