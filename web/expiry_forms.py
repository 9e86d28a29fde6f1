"""The key page's expiry form. A person picks a date and a time on their own clock: the page
sends the browser's timezone in a hidden field (UTC without JavaScript), and the form turns the
wall time into the instant keys.services.api_key_update stores, in UTC."""
import zoneinfo
from datetime import UTC, datetime, time, timedelta, timezone
from functools import lru_cache

from django import forms

from web.key_forms import DashboardForm

UTC_NAME = "UTC"
DAY_END = time(23, 59)
LATEST_DAY = "Pick a date before 9999-12-31: a later one cannot be stored."


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {UTC_NAME}


def zone_of(name: str) -> zoneinfo.ZoneInfo | timezone:
    """A known IANA name only: ZoneInfo reads files named by its argument."""
    return UTC if name == UTC_NAME else zoneinfo.ZoneInfo(name)


def in_utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def local_and_utc(moment: datetime, zone_name: str) -> str:
    """"2027-02-28 23:59 America/New_York = 2027-03-01 04:59 UTC", or the UTC time alone."""
    if zone_name == UTC_NAME:
        return in_utc(moment)
    return f"{moment.astimezone(zone_of(zone_name)):%Y-%m-%d %H:%M} {zone_name} = {in_utc(moment)}"


class KeyExpiryForm(DashboardForm):
    expires_on = forms.DateField(
        label="Date", input_formats=["%Y-%m-%d"],
        # Text, not type=date: a date input shows the browser's locale ("02/28/2027").
        widget=forms.DateInput(attrs={"inputmode": "numeric", "pattern": r"\d{4}-\d{2}-\d{2}",
                                      "placeholder": "YYYY-MM-DD", "autocomplete": "off"}, format="%Y-%m-%d"),
        error_messages={"required": "Enter a date as YYYY-MM-DD, e.g. 2027-01-31.",
                        "invalid": "Enter the date as YYYY-MM-DD, e.g. 2027-01-31."},
    )
    expires_time = forms.TimeField(
        label="Time", input_formats=["%H:%M"], initial=DAY_END,
        widget=forms.TimeInput(attrs={"inputmode": "numeric", "pattern": r"\d{2}:\d{2}", "placeholder": "HH:MM",
                                      "autocomplete": "off"}, format="%H:%M"),
        error_messages={"required": "Enter a time as HH:MM on a 24-hour clock, e.g. 23:59.",
                        "invalid": "Enter the time as HH:MM on a 24-hour clock, e.g. 23:59."},
    )
    timezone = forms.CharField(required=False, widget=forms.HiddenInput, initial=UTC_NAME)
    never_expires = forms.BooleanField(
        label="Never expires", required=False,
        help_text="A leaked key without an expiry works until someone revokes it.")

    # For add_service_error: the service's field, and its words for a past instant, as a person reads them.
    service_fields = {"expires_at": "expires_on"}
    service_messages = {"past": "That moment has passed: pick a later date or time."}
    _moment: datetime  # the instant typed, set by clean()

    def __init__(self, *args, company=None, **kwargs):
        super().__init__(*args, **kwargs)
        longest = company and company.max_key_lifetime_days
        self.latest = datetime.now(UTC) + timedelta(days=longest) if longest else None
        if company and (company.require_key_expiry or longest):
            del self.fields["never_expires"]
        else:  # the date and time are needed unless "Never expires" is ticked (clean checks)
            self.fields["expires_on"].required = self.fields["expires_time"].required = False

    @classmethod
    def for_key(cls, key) -> "KeyExpiryForm":
        initial: dict[str, object] = {"timezone": UTC_NAME}
        if key.expires_at:
            moment = key.expires_at.astimezone(UTC)
            initial.update(expires_on=moment.date(), expires_time=moment.time().replace(second=0, microsecond=0))
        else:
            initial["never_expires"] = True
        return cls(initial=initial, company=key.company)

    def clean_timezone(self) -> str:
        name = self.cleaned_data["timezone"] or UTC_NAME
        if name not in _zones():
            raise forms.ValidationError(f"“{name[:60]}” is not a timezone this server knows; reload the page.")
        return name

    def clean(self):
        data = super().clean()
        if data.get("never_expires") or self.errors:
            return data
        for name in ("expires_on", "expires_time"):
            if data.get(name) is None:
                self.add_error(name, self.fields[name].error_messages["required"])
        if not self.errors:
            self._instant(data)
        return data

    def _instant(self, data) -> None:
        """The instant of the wall time typed, or an error on the field to change: a date whose
        instant falls outside the years datetime can hold (9999-12-31 23:59 in New York is in
        the year 10000 in UTC) is not a 500, and a time the clocks skip (02:30 on the night
        New York springs forward) is not moved to another one without a word. A time the clocks
        show twice (01:30 as New York falls back) is its first, the earlier instant: the key
        stops sooner, never later, and the message says the instant in UTC."""
        wall = datetime.combine(data["expires_on"], data["expires_time"])
        zone = zone_of(data["timezone"])
        try:
            self._moment = wall.replace(tzinfo=zone).astimezone(UTC)
            shown = self._moment.astimezone(zone).replace(tzinfo=None)
        except OverflowError:
            past = wall.year == datetime.min.year
            self.add_error("expires_on", self.service_messages["past"] if past else LATEST_DAY)
            return
        if shown != wall:
            self.add_error("expires_time", f"{wall:%H:%M} does not exist on {wall:%Y-%m-%d} in {data['timezone']}: "
                                           "the clocks skip it that night. Pick a time outside the skipped hour.")

    @property
    def expires_at(self) -> datetime | None:
        if self.cleaned_data.get("never_expires"):
            return None
        return self._moment

    def described(self) -> str:
        moment = self.expires_at
        return "never" if moment is None else local_and_utc(moment, self.cleaned_data["timezone"])
