"""Whole numbers from query parameters and headers, read one strict way.

Python's int() reads more than a client means by a number: Unicode digits ('٢', '２'), a sign,
spaces around it and underscores ('1_0'); str.isdigit() passes '²', which int() then refuses
with an exception, a 500. Every number in a query parameter or header is read here instead:
ASCII digits 0-9 and nothing else, so '+2' and '٢' are a clear 400, never company 2.
"""
import argparse
import re

from core.errors import BadParameter

MAX_BIGINT = 2**63 - 1  # the largest id a database column holds
_DIGITS = re.compile(rf"[0-9]{{1,{len(str(MAX_BIGINT))}}}")
# A whole number where a sign may stand and the range is checked after (a page, a JSON body):
# ASCII digits only, and not so long that reading it costs anything.
WHOLE_NUMBER = re.compile(r"-?[0-9]{1,30}")


def ascii_int(raw, *, name: str, low: int, high: int = MAX_BIGINT, code: str = "validation_error",
              where: str = "parameter") -> int:
    """`raw` as a number from `low` to `high`, else BadParameter with `code`, naming `name`
    as a query `parameter` or a `header` (the problem's `errors` entry)."""
    if isinstance(raw, str) and _DIGITS.fullmatch(raw):
        value = int(raw)
        if low <= value <= high:
            return value
    bounds = f"from {low} to {high}" if high < MAX_BIGINT else f"of at least {low}"
    message = f"{name} must be a whole number {bounds}, in digits 0-9"
    # A header's value is not repeated: a key pasted into the wrong header would come back in
    # the answer (and WSGI hands headers over as Latin-1, so anything else would come back garbled).
    if where == "parameter" and not (isinstance(raw, str) and raw.startswith(("sk_live_", "sk_test_"))):
        message += f", got {raw[:20] if isinstance(raw, str) else raw!r}."
    else:
        message += "."
    raise BadParameter(message, name=name, where=where, code=code)


def whole_argument(text: str) -> int:
    """A management command's whole-number option: ASCII digits, as everywhere else. A bad value
    is argparse's usage error (one line, exit 2), not a traceback."""
    if not _DIGITS.fullmatch(text):
        raise argparse.ArgumentTypeError(f"takes a whole number in digits 0-9, not {text!r}")
    return int(text)
