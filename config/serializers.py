"""Input-serializer building blocks shared by every app's API."""
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework import serializers


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
