"""The time edge: the outbox dispatcher, the clock, the rate limiter and the shared budget."""
