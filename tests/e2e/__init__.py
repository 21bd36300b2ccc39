"""Journeys through the strict fake Bot API: the real aiogram dispatcher in process on a
hand-moved clock, or the real `python -m bot` process."""
