"""The API's JSON parser: DRF's, except that
- a body nested too deep to parse is a 400 like any other malformed body, not a RecursionError
  and a 500 (a JSON bomb is a few kilobytes);
- a name twice in one object (`{"name": "a", "name": "b"}`) is a 400: Python keeps the last,
  other parsers (a proxy's, a WAF's, the client's own log) the first, so what was checked and
  what was saved could differ;
- a number too large for a float (`1e400`) is a 400, not infinity, which a string field then
  took as the text "inf"."""
import codecs
import json
import math

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils.json import strict_constant


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    found: dict[str, object] = {}
    for name, value in pairs:
        if name in found:
            raise ValueError(f"the name {json.dumps(name)[:60]} appears twice in one object")
        found[name] = value
    return found


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"the number {text[:30]} is too large")
    return number


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            return json.load(codecs.getreader(encoding)(stream), object_pairs_hook=_object, parse_float=_finite,
                             parse_constant=strict_constant if self.strict else None)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
