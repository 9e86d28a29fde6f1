"""The dashboard's key-policy form: the shape of what an owner typed; accounts.services keeps the rules."""
from django import forms

from accounts.services import MAX_POLICY_DAYS
from keys.forms import DashboardForm


def _days_field(label: str, help_text: str, *, required: bool) -> forms.IntegerField:
    return forms.IntegerField(
        label=label, required=required, min_value=1, max_value=MAX_POLICY_DAYS, help_text=help_text,
        error_messages={"invalid": "Enter a whole number of days, e.g. 90.",
                        "required": "Enter a number of days, e.g. 90.",
                        "min_value": "Enter at least 1 day.",
                        "max_value": f"Enter at most {MAX_POLICY_DAYS:,} days (10 years)."},
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "placeholder": "" if required else "No maximum"}),
    )


class KeyPolicyForm(DashboardForm):
    """The fields of accounts.services.company_policy_set, named as it names them."""

    max_key_lifetime_days = _days_field(
        "Maximum key lifetime in days", "Keys must expire within this many days of being created or extended; "
        "90 is a common rotation period. Empty: no maximum.", required=False)
    require_key_expiry = forms.BooleanField(label="Every key must have an expiry date", required=False,
                                            help_text="Refuse keys that never expire.")
    unused_key_days = _days_field(
        "Unused-key days", "Active keys not used for this many days are listed on the key pages as candidates "
        "to revoke.", required=True)
