"""store/: migrations, the connection pool, several instances starting at once, logged SQL."""
