"""The API's JSON parser: DRF's, except that a body nested too deep to parse is a 400 like any
other malformed body, not a RecursionError and a 500 (a JSON bomb is a few kilobytes)."""
from rest_framework import parsers
from rest_framework.exceptions import ParseError


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
