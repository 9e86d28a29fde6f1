"""The dashboard's forms: they check the shape of what a person typed; the rules stay in
keys.services, whose ValidationError is put back on the form by `add_service_error`."""
import re
from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone

from core.errors import ApplicationError
from keys.models import DEFAULT_LIFETIME, NAME_MAX_LENGTH, Mode, key_name_validator
from keys.restrictions import SCOPES
from keys.selectors import STATUSES
from keys.services import MAX_GRACE_SECONDS
from web.name_fields import KeyNameInput

NAME_EXAMPLES = '"Production Server", "Development Testing" or "Data Pipeline"'


def default_expiry() -> date:
    return timezone.now().date() + DEFAULT_LIFETIME


def expires_at_for(day: date | None) -> datetime | None:
    """A key given a date stops working at 00:00 UTC on that date, as the form says."""
    return None if day is None else datetime.combine(day, time.min, tzinfo=UTC)


def _name_field() -> forms.CharField:
    return forms.CharField(
        label="Name",
        max_length=NAME_MAX_LENGTH,
        validators=[key_name_validator],
        help_text=f"What the key is for, so you can tell keys apart later: e.g. {NAME_EXAMPLES}.",
        error_messages={"required": f"Give the key a name, e.g. {NAME_EXAMPLES}."},
        widget=KeyNameInput(attrs={"placeholder": "e.g. Production Server", "autocomplete": "off"}),
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
        help_text="Recommended; YYYY-MM-DD. The key stops working at 00:00 UTC on this date; 90 days from today "
                  "is suggested.",
        # A text field, not type=date: a date input shows the browser's locale ("02/28/2027")
        # where every other date on the dashboard is ISO, and keys.services checks the range.
        widget=forms.DateInput(attrs={"inputmode": "numeric", "pattern": r"\d{4}-\d{2}-\d{2}",
                                      "placeholder": "YYYY-MM-DD", "autocomplete": "off"}, format="%Y-%m-%d"),
        error_messages={"invalid": "Enter the date as YYYY-MM-DD, e.g. 2027-01-31, or tick “Never expires”."},
    )
    never_expires = forms.BooleanField(
        label="Never expires",
        required=False,
        help_text="Only for keys you will rotate by hand; a leaked key without an expiry works until someone "
                  "revokes it.",
    )
    mode = forms.ChoiceField(
        label="Mode",
        choices=Mode.choices,
        initial=Mode.LIVE,
        widget=forms.RadioSelect,
        help_text="Test keys (sk_test_…) authenticate like live keys but are meant for development: "
        "their requests are never charged, so use them in tests and CI.",
    )
    form_token = forms.CharField(required=False, widget=forms.HiddenInput)  # web.form_tokens

    service_fields = {"expires_at": "expires_on"}
    # keys.services words a past expiry for the API; a company's key policy keeps its own words.
    service_messages = {"past": "That date has passed: pick a date after today, or tick “Never expires”."}

    def __init__(self, *args, company=None, **kwargs):
        """With the company, the form follows its key policy: no "Never expires" when keys must
        expire, and no date past the longest lifetime (keys.services refuses both anyway)."""
        longest = company and company.max_key_lifetime_days
        # A date D means 00:00 UTC on D, so the last date within N days is the date of now + N days.
        self.latest_expiry = (timezone.now() + timedelta(days=longest)).date() if longest else None
        self.expiry_required = bool(company and (company.require_key_expiry or longest))
        self.policy_note = ""
        kwargs["initial"] = {"expires_on": min(default_expiry(), self.latest_expiry or date.max),
                             **kwargs.get("initial", {})}
        super().__init__(*args, **kwargs)
        expires_on = self.fields["expires_on"]
        if self.expiry_required:
            del self.fields["never_expires"]
            expires_on.required = True
            rule = f"within {longest} days" if longest else "on a date"
            self.policy_note = f"{company.name}'s key policy: every key expires {rule}."
            within = f" within {longest} days" if longest else ""
            expires_on.error_messages["required"] = (f"Pick an expiration date: {company.name} requires every key "
                                                     f"to expire{within}.")
            expires_on.error_messages["invalid"] = "Enter the date as YYYY-MM-DD, e.g. 2027-01-31."
            expires_on.help_text = "Required by your company's key policy. The key stops working at 00:00 UTC on " \
                                   "this date."
        if self.latest_expiry:
            expires_on.help_text += f" The latest date allowed is {self.latest_expiry:%Y-%m-%d}."

    def clean(self):
        data = super().clean()
        if not data.get("never_expires") and not data.get("expires_on") and "expires_on" not in self.errors:
            self.add_error("expires_on", "Pick an expiration date, or tick “Never expires” for a key without one.")
        return data

    @property
    def expires_at(self) -> datetime | None:
        data = self.cleaned_data
        return None if data.get("never_expires") else expires_at_for(data["expires_on"])


class ApiKeyRenameForm(DashboardForm):
    name = _name_field()


def add_service_error(form: forms.Form, error: ValidationError | ApplicationError) -> None:
    """A service's refusal on the form: its ValidationError on the fields it names (Django's
    add_error; a field the form does not have, and every other refusal, above the form).
    `service_fields` on a form maps a service's field name to the form's where they differ, and
    `service_messages` gives a code the form's own words."""
    if isinstance(error, ApplicationError):
        form.add_error(None, error.message)
        return
    renamed: dict[str, list[ValidationError]] = {}
    for field, errors in error.update_error_dict({}).items():
        name = getattr(form, "service_fields", {}).get(field, field)
        own = getattr(form, "service_messages", {})
        renamed.setdefault(name if name in form.fields else NON_FIELD_ERRORS, []).extend(
            ValidationError(own[e.code], code=e.code) if e.code in own else e for e in errors)
    form.add_error(None, ValidationError(renamed))


STATUS_CHOICES = [("", "Any status"), *[(status, str(status).capitalize()) for status in STATUSES]]
MODE_CHOICES = [("", "Any mode"), *Mode.choices]


class KeyFilterForm(DashboardForm):
    """The filters over a key table: the personal list and the company view (which adds the owner)."""
    q = forms.CharField(label="Search", required=False, max_length=NAME_MAX_LENGTH, strip=True,
                        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name or sk_live_ab12",
                                                      "autocomplete": "off"}))
    owner = forms.TypedChoiceField(label="Owner", required=False, coerce=int, empty_value=None)
    status = forms.ChoiceField(label="Status", required=False, choices=STATUS_CHOICES)
    mode = forms.ChoiceField(label="Mode", required=False, choices=MODE_CHOICES)

    def __init__(self, *args, members=None, **kwargs):
        super().__init__(*args, **kwargs)
        if members is None:
            del self.fields["owner"]
        else:
            self.fields["owner"].choices = [("", "Everyone"), *[(m.pk, m.username) for m in members]]

    def filters(self) -> dict:
        """The valid filters; an invalid one is dropped and shown as an error on the form."""
        if self.is_valid():
            data = self.cleaned_data
        else:
            data = {name: value for name, value in self.cleaned_data.items() if name not in self.errors}
        chosen = {"status": data.get("status") or None, "mode": data.get("mode") or None,
                  "search": data.get("q") or None}
        if "owner" in self.fields:
            chosen["owner_id"] = data.get("owner")
        return chosen


# The regenerate confirmation's choices: when the current value stops working.
GRACE_CHOICES = [(0, "Now"), (3600, "In 1 hour"), (24 * 3600, "In 24 hours"), (7 * 24 * 3600, "In 7 days")]
assert max(seconds for seconds, _ in GRACE_CHOICES) <= MAX_GRACE_SECONDS


class ApiKeyRegenerateForm(DashboardForm):
    grace_period_seconds = forms.TypedChoiceField(
        label="When should the current value stop working?", choices=GRACE_CHOICES, coerce=int, initial=0,
        required=False, empty_value=0, widget=forms.RadioSelect,  # type: ignore[arg-type]  # an int, as coerce gives
        help_text="Until then both the current and the new value work, so your apps can switch without downtime.",
        error_messages={"invalid_choice": "Choose now, in 1 hour, in 24 hours or in 7 days."},
    )


def entries(text: str) -> list[str]:
    """One entry per line; commas and spaces separate entries too, since neither IPs nor hosts hold them."""
    return [entry for entry in re.split(r"[\s,]+", text or "") if entry]


class KeyRestrictionsForm(DashboardForm):
    """The shape of keys.services.api_key_set_restrictions' arguments; it validates each entry."""

    allowed_ips = forms.CharField(
        label="Allowed IP addresses", required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off",
                                     "placeholder": "203.0.113.7\n198.51.100.0/24\n2001:db8::/32"}),
        help_text="One IPv4 or IPv6 address or CIDR range per line. Empty: any address.",
    )
    allowed_referrers = forms.CharField(
        label="Allowed referrers", required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "autocomplete": "off",
                                     "placeholder": "app.example.com\n*.example.com"}),
        help_text="One host per line, or *.example.com for every subdomain; matched against the request's "
                  "Origin or Referer. No scheme or path. Empty: any page.",
    )
    scopes = forms.MultipleChoiceField(
        label="Scopes", choices=list(SCOPES.items()),
        widget=forms.CheckboxSelectMultiple,
        help_text="The API areas the key may call. “all” allows every area, including new ones.",
        error_messages={"required": "Tick at least one scope; “all” allows every API area."},
    )

    @classmethod
    def for_key(cls, key) -> "KeyRestrictionsForm":
        return cls(initial={"allowed_ips": "\n".join(key.allowed_ips),
                            "allowed_referrers": "\n".join(key.allowed_referrers), "scopes": key.scopes})

    def restrictions(self) -> dict:
        data = self.cleaned_data
        return {"allowed_ips": entries(data["allowed_ips"]), "allowed_referrers": entries(data["allowed_referrers"]),
                "scopes": data["scopes"]}
