"""care/ operations against a real database (SQLite, and PostgreSQL when configured)."""
