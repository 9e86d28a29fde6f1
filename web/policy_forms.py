"""The dashboard's key-policy form: the shape of what an owner typed; keys.company_services keeps the rules."""
from django import forms

from accounts.models import MAX_BUDGET_MICROCENTS, MAX_REQUEST_LIMIT, ResetPeriod
from keys.company_services import MAX_POLICY_DAYS
from web.key_forms import DashboardForm
from web.number_fields import WholeNumberField


def _days_field(label: str, help_text: str, *, required: bool) -> forms.IntegerField:
    return WholeNumberField(
        label=label, required=required, min_value=1, max_value=MAX_POLICY_DAYS, help_text=help_text,
        error_messages={"invalid": "Enter a whole number of days, e.g. 90.",
                        "required": "Enter a number of days, e.g. 90.",
                        "min_value": "Enter at least 1 day.",
                        "max_value": f"Enter at most {MAX_POLICY_DAYS:,} days (10 years)."},
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "placeholder": "" if required else "No maximum"}),
    )


class KeyPolicyForm(DashboardForm):
    """The fields of keys.company_services.company_policy_set, named as it names them."""

    max_key_lifetime_days = _days_field(
        "Maximum key lifetime in days", "Keys must expire within this many days of being created or extended; "
        "90 is a common rotation period. Empty: no maximum.", required=False)
    require_key_expiry = forms.BooleanField(label="Every key must have an expiry date", required=False,
                                            help_text="Refuse keys that never expire.")
    unused_key_days = _days_field(
        "Unused-key days", "Active keys not used for this many days are listed on the key pages as candidates "
        "to revoke.", required=True)
    default_request_limit = WholeNumberField(
        label="Default request limit for new keys", required=False, min_value=0, max_value=MAX_REQUEST_LIMIT,
        help_text="Every new key starts limited to this many requests per period; admins and owners can change it "
                  "per key. Empty: new keys have no request limit.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "placeholder": "No limit"}))
    default_budget_limit_microcents = WholeNumberField(
        label="Default budget for new keys, in microcents", required=False, min_value=0,
        max_value=MAX_BUDGET_MICROCENTS, help_text="Spend per period every new key starts with; $1 = 100,000,000 "
                                                   "microcents. Empty: no budget.",
        widget=forms.NumberInput(attrs={"inputmode": "numeric", "placeholder": "No budget"}))
    default_limit_period = forms.ChoiceField(label="Period of the default limits", choices=ResetPeriod.choices,
                                             initial=ResetPeriod.MONTHLY, required=False)

    def clean(self):
        data = super().clean()
        if not data.get("default_limit_period"):
            data.pop("default_limit_period", None)  # not sent: the period stays as it is
        return data
