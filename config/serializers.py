"""Input-serializer building blocks shared by every app's API."""
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers

from config.errors import ValidationFailed
from config.parsing import MAX_BIGINT, ascii_int


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


class AsciiIntegerField(serializers.IntegerField):
    """A whole number from a query string, read by config.parsing.ascii_int: DRF's IntegerField
    would take '٢', '+2' and '1_0' as numbers too."""

    def to_internal_value(self, data):
        low = self.min_value if self.min_value is not None else 0  # no sign is read, so none is negative
        high = self.max_value if self.max_value is not None else MAX_BIGINT
        try:
            return ascii_int(data, name=self.field_name, low=low, high=high)
        except ValidationFailed as error:
            raise serializers.ValidationError(error.message, code="invalid") from None


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with `Z` or an offset; a time without a zone is ambiguous and refused."""

    default_error_messages = {
        "invalid": "Use ISO 8601 with a timezone, e.g. 2027-01-31T00:00:00Z.",
        "naive": "Add a timezone (Z or an offset such as +02:00) to this time.",
    }

    def to_internal_value(self, value):
        if not isinstance(value, str):
            self.fail("invalid")
        parsed = parse_datetime(value.strip()) if len(value) < 64 else None
        if parsed is None:
            self.fail("invalid")
        if timezone.is_naive(parsed):
            self.fail("naive")
        return parsed
