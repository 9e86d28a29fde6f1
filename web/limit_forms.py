"""The dashboard's limits form: the shape of what a person typed; keys.limit_services keeps the rules.
People type the budget in dollars and cents; it is stored, as every price, in microcents."""
from decimal import Decimal

from django import forms

from accounts.models import MAX_BUDGET_MICROCENTS, MAX_REQUEST_LIMIT, ResetPeriod
from web.charts import MICROCENTS_PER_DOLLAR
from web.key_forms import DashboardForm
from web.number_fields import DollarsField, WholeNumberField

SERVICE_NAMES = {"request_limit": "request_limit", "budget": "budget_limit_microcents",
                 "reset_period": "reset_period", "enabled": "enabled"}


def dollars(microcents: int | None) -> Decimal | None:
    """$12.50 as Decimal("12.50"): cents always, more places only where the amount has them."""
    if microcents is None:
        return None
    exact = (Decimal(microcents) / MICROCENTS_PER_DOLLAR).normalize()
    return exact.quantize(Decimal("0.01")) if exact == exact.quantize(Decimal("0.01")) else exact


def _limit_field(label: str, most: int, help_text: str, example: str) -> forms.IntegerField:
    return WholeNumberField(
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
    budget = DollarsField(
        label="Budget (US$)", required=False, min_value=0, max_value=dollars(MAX_BUDGET_MICROCENTS),
        decimal_places=8, help_text="Spend per period in dollars and cents, e.g. 12.50. Empty: no budget.",
        error_messages={
            "invalid": "Enter dollars and cents without a $ sign or separators, e.g. 12.50, or leave it empty.",
            "min_value": "Enter 0 or more; leave it empty for no budget.",
            "max_value": f"That is more than ${dollars(MAX_BUDGET_MICROCENTS):,}; check for extra zeros.",
            "max_decimal_places": "Prices go down to a millionth of a cent: at most 8 decimal places.",
        },
        widget=forms.TextInput(attrs={"placeholder": "No budget", "inputmode": "decimal", "autocomplete": "off"}),
    )
    reset_period = forms.ChoiceField(label="Reset period", choices=ResetPeriod.choices, initial=ResetPeriod.MONTHLY,
                                     help_text="Use counts from the start of the period and starts again at its end.")
    # For add_service_error: the service's name of a field this form names for people.
    service_fields = {"budget_limit_microcents": "budget"}
    enabled = forms.BooleanField(label="Enforce these limits", required=False, initial=True,
                                 help_text="Untick to keep the numbers but let every request through.")

    @classmethod
    def for_limit(cls, limit) -> "KeyLimitsForm":
        if limit is None:
            return cls()
        return cls(initial={name: getattr(limit, SERVICE_NAMES[name]) for name in cls.base_fields}
                   | {"budget": dollars(limit.budget_limit_microcents)})

    def limits(self) -> dict:
        """The arguments of keys.limit_services.limits_set."""
        data = self.cleaned_data
        budget = data["budget"]
        return {"request_limit": data["request_limit"], "reset_period": data["reset_period"],
                "enabled": data["enabled"],
                "budget_limit_microcents": None if budget is None else int(budget * MICROCENTS_PER_DOLLAR)}

    def clean(self):
        data = super().clean()
        if not self.errors and data.get("request_limit") is None and data.get("budget") is None:
            raise forms.ValidationError(
                "Set a request limit, a budget or both. To let the key make any number of requests, "
                "use “Remove limits”."
            )
        return data
