"""flows/ with plain data: no database, no event loop."""
