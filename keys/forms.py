"""The dashboard's forms: they check the shape of what a person typed; the rules stay in
keys.services, whose ValidationFailed is put back on the form by `add_service_error`."""
from datetime import date, datetime, time, timedelta, timezone

from django import forms

from config.errors import ApplicationError
from keys.models import NAME_MAX_LENGTH, Mode
from keys.selectors import STATUSES
from usage.models import ResetPeriod
from usage.services import MAX_BUDGET_MICROCENTS, MAX_REQUEST_LIMIT

DEFAULT_LIFETIME = timedelta(days=90)
NAME_EXAMPLES = '"Production Server", "Development Testing" or "Data Pipeline"'


def default_expiry() -> date:
    return datetime.now(timezone.utc).date() + DEFAULT_LIFETIME


def expires_at_for(day: date | None) -> datetime | None:
    """A key given a date stops working at 00:00 UTC on that date, as the form says."""
    return None if day is None else datetime.combine(day, time.min, tzinfo=timezone.utc)


def _name_field() -> forms.CharField:
    return forms.CharField(
        label="Name",
        max_length=NAME_MAX_LENGTH,
        help_text=f"What the key is for, so you can tell keys apart later: e.g. {NAME_EXAMPLES}.",
        error_messages={"required": f"Give the key a name, e.g. {NAME_EXAMPLES}."},
        widget=forms.TextInput(attrs={"placeholder": "e.g. Production Server", "autocomplete": "off"}),
    )


class DashboardForm(forms.Form):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class ApiKeyCreateForm(DashboardForm):
    name = _name_field()
    expires_on = forms.DateField(
        label="Expiration date",
        required=False,
        help_text="Recommended. The key stops working at 00:00 UTC on this date; 90 days from today is suggested.",
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter the date as YYYY-MM-DD, e.g. 2027-01-31, or tick “Never expires”."},
    )
    never_expires = forms.BooleanField(
        label="Never expires",
        required=False,
        help_text="Only for keys you will rotate by hand; a leaked key without an expiry works until someone revokes it.",
    )
    mode = forms.ChoiceField(
        label="Mode",
        choices=Mode.choices,
        initial=Mode.LIVE,
        widget=forms.RadioSelect,
        help_text="Test keys (sk_test_…) authenticate like live keys but are meant for development: "
        "their requests are never charged, so use them in tests and CI.",
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {"expires_on": default_expiry()})
        super().__init__(*args, **kwargs)
        self.fields["expires_on"].widget.attrs["min"] = (datetime.now(timezone.utc).date() + timedelta(days=1)).isoformat()

    def clean(self):
        data = super().clean()
        if not data.get("never_expires") and not data.get("expires_on") and "expires_on" not in self.errors:
            self.add_error("expires_on", "Pick an expiration date, or tick “Never expires” for a key without one.")
        return data

    @property
    def expires_at(self) -> datetime | None:
        data = self.cleaned_data
        return None if data["never_expires"] else expires_at_for(data["expires_on"])


class ApiKeyRenameForm(DashboardForm):
    name = _name_field()


# The services name fields as the API does; the dashboard's fields are named for people.
SERVICE_FIELDS = {"name": "name", "expires_at": "expires_on", "mode": "mode", "request_limit": "request_limit",
                  "budget_limit_microcents": "budget_limit_microcents", "reset_period": "reset_period"}
FRIENDLY_MESSAGES = {"expires_on": "That date has passed: pick a date after today, or tick “Never expires”."}


def add_service_error(form: forms.Form, error: ApplicationError) -> None:
    """Put a service's ValidationFailed or Conflict on the field it is about, else on the form."""
    for field in error.details:
        name = SERVICE_FIELDS.get(field)
        if name in form.fields:
            form.add_error(name, FRIENDLY_MESSAGES.get(name, error.message))
            return
    form.add_error(None, error.message)


STATUS_CHOICES = [("", "Any status"), *[(status, status.capitalize()) for status in STATUSES]]
MODE_CHOICES = [("", "Any mode"), *Mode.choices]


class CompanyKeyFilterForm(DashboardForm):
    owner = forms.TypedChoiceField(label="Owner", required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(label="Status", required=False, choices=STATUS_CHOICES)
    mode = forms.ChoiceField(label="Mode", required=False, choices=MODE_CHOICES)

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["owner"].choices = [("", "Everyone"), *[(m.pk, m.username) for m in members]]

    def filters(self) -> dict:
        """The valid filters; an invalid one is dropped and shown as an error on the form."""
        if self.is_valid():
            data = self.cleaned_data
        else:
            data = {name: value for name, value in self.cleaned_data.items() if name not in self.errors}
        return {
            "owner_id": data.get("owner"),
            "status": data.get("status") or None,
            "mode": data.get("mode") or None,
        }


def _limit_field(label: str, most: int, help_text: str, example: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=label, required=False, min_value=0, max_value=most, help_text=help_text,
        error_messages={
            "invalid": f"Enter a whole number without separators, e.g. {example}, or leave it empty for no limit.",
            "min_value": "Enter 0 or more; leave it empty for no limit.",
            "max_value": f"That is more than {most:,}; check for extra zeros.",
        },
        widget=forms.NumberInput(attrs={"placeholder": "No limit", "inputmode": "numeric"}),
    )


class KeyLimitsForm(DashboardForm):
    """The fields of usage.services.limits_set, named as it names them."""

    request_limit = _limit_field("Request limit", MAX_REQUEST_LIMIT, "Requests per period. Empty: no request limit.",
                                 "1000")
    budget_limit_microcents = _limit_field(
        "Budget in microcents", MAX_BUDGET_MICROCENTS,
        "Spend per period. 1 cent = 1,000,000 microcents, so $1 = 100000000. Empty: no budget.", "50000000")
    reset_period = forms.ChoiceField(label="Reset period", choices=ResetPeriod.choices, initial=ResetPeriod.MONTHLY,
                                     help_text="Use counts from the start of the period and starts again at its end.")
    enabled = forms.BooleanField(label="Enforce these limits", required=False, initial=True,
                                 help_text="Untick to keep the numbers but let every request through.")

    @classmethod
    def for_limit(cls, limit) -> "KeyLimitsForm":
        if limit is None:
            return cls()
        return cls(initial={name: getattr(limit, name) for name in cls.base_fields})

    def clean(self):
        data = super().clean()
        if not self.errors and data.get("request_limit") is None and data.get("budget_limit_microcents") is None:
            raise forms.ValidationError(
                "Set a request limit, a budget or both. To let the key make any number of requests, "
                "use “Remove limits”."
            )
        return data
