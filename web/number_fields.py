"""Number fields that read what a person typed as they meant it: ASCII digits only.

Django's fields read more (int() and Decimal() take "1e3", "١٠٠", "100.0" as a whole number,
"1_000"), so a typo such as "1e3" or text pasted from elsewhere became $1,000 or a limit nobody
typed. A minus sign is read, so that "-5" is told "0 or more" rather than "not a number".
Shared by the dashboard's forms and the admin, which must agree on what a number is."""
import re

from django import forms

from core.parsing import WHOLE_NUMBER

AMOUNT = re.compile(r"-?([0-9]+(\.[0-9]*)?|\.[0-9]+)")


class _Typed:
    """A number field that first holds the text typed to `pattern`."""
    pattern: re.Pattern[str]

    def to_python(self, value):
        if isinstance(value, str) and value.strip() and not self.pattern.fullmatch(value.strip()):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class WholeNumberField(_Typed, forms.IntegerField):
    pattern = WHOLE_NUMBER


class DollarsField(_Typed, forms.DecimalField):
    pattern = AMOUNT
