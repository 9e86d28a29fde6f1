"""Durations as operators write them on a command line: a whole number of days, `90d`."""
import re

DAYS = re.compile(r"([0-9]{1,5})d")


def days_in(text: str) -> int | None:
    """The days of `90d`; None for anything else, for the caller to say what it expected."""
    match = DAYS.fullmatch(text)
    return int(match[1]) if match else None
