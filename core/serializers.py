"""Input-serializer building blocks shared by every app's API."""
import re
from datetime import UTC

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from core.errors import BadParameter
from core.parsing import MAX_BIGINT, WHOLE_NUMBER, ascii_int

EARLIEST_YEAR, LATEST_YEAR = 1970, 9999
# The offset after a time (+hh:mm, +hhmm or +hh): parse_datetime raises on hours past 23 and
# reads +05:99 as +06:39, so it is checked here first.
_OFFSET = re.compile(r"[T ][0-9:.,]*[0-9][+-](?P<hours>[0-9]{2})(?::?(?P<minutes>[0-9]{2}))?\Z")


class StrictInputSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo such as `expires` is an error, not ignored."""

    def to_internal_value(self, data):
        # Here rather than in validate(), so that it also runs for each item of a list (many=True).
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {str(name)[:40]: ["Unknown field; allowed: " + ", ".join(self.fields)] for name in unknown[:10]}
                )
        return super().to_internal_value(data)


def query_parameters(serializer: serializers.Serializer) -> dict:
    """The validated data of a serializer of query parameters, or a problem whose `errors`
    name the parameters (a pointer would name a body field)."""
    if serializer.is_valid():
        return serializer.validated_data
    errors = [{"parameter": name, "detail": str(message)} for name, messages in serializer.errors.items()
              for message in messages]
    raise BadParameter(f"The request is not valid: {errors[0]['parameter']}: {errors[0]['detail']}",
                       name=errors[0]["parameter"], errors=errors)


class AsciiIntegerField(serializers.IntegerField):
    """A whole number from a query string, read by core.parsing.ascii_int: DRF's IntegerField
    would take '٢', '+2' and '1_0' as numbers too."""

    def to_internal_value(self, data):
        low = self.min_value if self.min_value is not None else 0  # no sign is read, so none is negative
        high = self.max_value if self.max_value is not None else MAX_BIGINT
        try:
            return ascii_int(data, name=self.field_name, low=low, high=high)
        except BadParameter as error:
            raise serializers.ValidationError(error.message, code="invalid") from None


class JsonIntegerField(serializers.IntegerField):
    """A whole number in a JSON body: a JSON integer, or a string of ASCII digits. DRF's own
    reads int(str(data)), which takes '١٠' as 10, true as 1 and 1e2 (a float) as 100."""

    def to_internal_value(self, data):
        if (isinstance(data, (bool, float)) or not isinstance(data, (int, str))
                or (isinstance(data, str) and not WHOLE_NUMBER.fullmatch(data.strip()))):
            self.fail("invalid")
        return super().to_internal_value(data)


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with `Z` or an offset; a time without a zone is ambiguous and refused.

    Stricter than Django's parse_datetime, which reads '２０３０' as 2030 and raises, instead of
    returning None, on a well-formed but impossible time (30 February, an offset of +99:00).
    The offset stays under 24 hours, as RFC 3339 has it, and the instant between 1970 and the
    end of 9999 in UTC, so converting it to UTC or comparing it never overflows."""

    default_error_messages = {
        "invalid": "Use ISO 8601 with a timezone, e.g. 2027-01-31T00:00:00Z.",
        "naive": "Add a timezone (Z or an offset such as +02:00) to this time.",
        "impossible": "No such time: check the day of the month, the hour and the offset "
                      "(from -23:59 to +23:59, e.g. +02:00).",
        "range": f"Use a time from {EARLIEST_YEAR} to {LATEST_YEAR} (in UTC).",
    }

    def to_internal_value(self, value):
        if not isinstance(value, str) or len(value) >= 64 or not value.isascii():
            self.fail("invalid")
        value = value.strip()
        offset = _OFFSET.search(value)
        if offset and (int(offset["hours"]) > 23 or int(offset["minutes"] or 0) > 59):
            self.fail("impossible")
        try:
            parsed = parse_datetime(value)
        except ValueError:
            self.fail("impossible")
        if parsed is None:
            self.fail("invalid")
        if timezone.is_naive(parsed):
            self.fail("naive")
        try:
            utc = parsed.astimezone(UTC)
        except OverflowError:
            self.fail("range")
        if not EARLIEST_YEAR <= utc.year <= LATEST_YEAR:
            self.fail("range")
        return utc  # in UTC: PostgreSQL takes offsets up to 15:59 only, RFC 3339 up to 23:59
