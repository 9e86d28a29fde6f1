"""The dashboard's limits form: the shape of what a person typed; keys.limit_services keeps the rules."""
from django import forms

from accounts.models import MAX_BUDGET_MICROCENTS, MAX_REQUEST_LIMIT, ResetPeriod
from web.key_forms import DashboardForm


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
    """The fields of keys.limit_services.limits_set, named as it names them."""

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
