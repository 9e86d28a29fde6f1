"""Changing or extending a key's expiry from its page, on the person's own clock with UTC shown,
held to the company's key policy by keys.services; revoked and expired keys are not edited."""
from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup
from django.utils import timezone as django_timezone

from audit.models import AuditEvent
from keys.models import ApiKey
from tests.dashboard.conftest import key_url, signed_in
from tests.factories import make_key

pytestmark = pytest.mark.django_db

NEXT_YEAR = django_timezone.now().year + 1
NEW_YORK = {"expires_on": f"{NEXT_YEAR}-02-28", "expires_time": "23:59", "timezone": "America/New_York"}
NEW_YORK_IN_UTC = datetime(NEXT_YEAR, 3, 1, 4, 59, tzinfo=UTC)


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def words(element) -> str:
    return " ".join(element.get_text(" ").split())


def expiry_panel(response):
    return soup(response).find("details", id="expiry")


def expires_at(key):
    return ApiKey.objects.get(pk=key.pk).expires_at


def test_a_new_expiry_on_the_persons_clock_is_stored_in_utc_and_said_in_both(alice, alice_key):
    key, _ = alice_key
    response = signed_in(alice).post(key_url(key, "expiry"), NEW_YORK, follow=True)
    assert response.redirect_chain == [(key_url(key) + "#expiry", 302)]
    assert expires_at(key) == NEW_YORK_IN_UTC
    panel = expiry_panel(response)
    assert panel.has_attr("open")
    assert words(panel.find(attrs={"role": "status"})) == (
        f"“Alice's laptop” now expires at {NEXT_YEAR}-02-28 23:59 America/New_York = {NEXT_YEAR}-03-01 04:59 UTC.")
    assert f"{NEXT_YEAR}-03-01 04:59 UTC" in words(soup(response).find(id="overview"))
    [event] = AuditEvent.objects.filter(api_key=key, action="key.expiry_changed")
    assert event.changes["expires_at"]["after"] == NEW_YORK_IN_UTC.isoformat()


def test_a_time_the_clocks_show_twice_is_the_earlier_instant_said_in_utc(alice, alice_key):
    """New York falls back from 02:00 EDT to 01:00 EST on 2038-11-07: 01:30 happens twice."""
    key, _ = alice_key
    response = signed_in(alice).post(key_url(key, "expiry"), {**NEW_YORK, "expires_on": "2038-11-07",
                                                               "expires_time": "01:30"}, follow=True)
    assert expires_at(key) == datetime(2038, 11, 7, 5, 30, tzinfo=UTC)  # 01:30 EDT, not 06:30 (01:30 EST)
    assert "2038-11-07 01:30 America/New_York = 2038-11-07 05:30 UTC" in words(
        expiry_panel(response).find(attrs={"role": "status"}))


def test_without_javascript_the_time_is_utc(alice, alice_key):
    key, _ = alice_key
    response = signed_in(alice).post(key_url(key, "expiry"), {"expires_on": f"{NEXT_YEAR}-02-28",
                                                               "expires_time": "23:59"})
    assert response.status_code == 302
    assert expires_at(key) == datetime(NEXT_YEAR, 2, 28, 23, 59, tzinfo=UTC)


def test_the_form_shows_the_current_expiry_in_iso_and_utc(alice):
    key, _ = make_key(alice, expires_at=datetime(NEXT_YEAR, 3, 1, 4, 59, tzinfo=UTC))
    panel = expiry_panel(signed_in(alice).get(key_url(key)))
    assert not panel.has_attr("open")
    assert panel.find("input", attrs={"name": "expires_on"})["value"] == f"{NEXT_YEAR}-03-01"
    assert panel.find("input", attrs={"name": "expires_on"})["placeholder"] == "YYYY-MM-DD"
    assert panel.find("input", attrs={"name": "expires_time"})["value"] == "04:59"
    assert panel.find("input", attrs={"name": "timezone"})["value"] == "UTC"
    assert panel.find("form")["data-utc"] == f"{NEXT_YEAR}-03-01T04:59:00+00:00"  # detail.js shows it locally
    assert words(panel.summary) == f"Expiry {NEXT_YEAR}-03-01 04:59 UTC"


def test_never_expires_removes_the_expiry(alice):
    key, _ = make_key(alice, expires_at=NEW_YORK_IN_UTC)
    response = signed_in(alice).post(key_url(key, "expiry"), {"never_expires": "on", "timezone": "Europe/Paris"},
                                     follow=True)
    assert expires_at(key) is None
    assert "“Test key” no longer expires." in words(expiry_panel(response).find(attrs={"role": "status"}))


@pytest.mark.parametrize(("data", "field", "error"), [
    ({**NEW_YORK, "expires_on": f"02/28/{NEXT_YEAR}"}, "expires_on", "Enter the date as YYYY-MM-DD, e.g. 2027-01-31."),
    ({**NEW_YORK, "expires_on": ""}, "expires_on", "Enter a date as YYYY-MM-DD, e.g. 2027-01-31."),
    ({**NEW_YORK, "expires_time": "11:59 PM"}, "expires_time", "Enter the time as HH:MM on a 24-hour clock"),
    ({**NEW_YORK, "expires_time": "24:00"}, "expires_time", "Enter the time as HH:MM on a 24-hour clock"),
    ({**NEW_YORK, "timezone": "Mars/Olympus_Mons"}, "timezone", "is not a timezone this server knows"),
    ({**NEW_YORK, "timezone": "../../etc/passwd"}, "timezone", "is not a timezone this server knows"),
    ({**NEW_YORK, "expires_on": "2020-01-01"}, "expires_on", "That moment has passed"),
    # Instants datetime cannot hold: the year 10000 in UTC, and the year 0.
    ({**NEW_YORK, "expires_on": "9999-12-31"}, "expires_on", "Pick a date before 9999-12-31"),
    ({**NEW_YORK, "expires_on": "0001-01-01", "expires_time": "00:00", "timezone": "Asia/Tokyo"}, "expires_on",
     "That moment has passed"),
    # New York springs forward from 02:00 to 03:00: 02:30 is on no clock there that night.
    ({**NEW_YORK, "expires_on": "2038-03-14", "expires_time": "02:30"}, "expires_time",
     "02:30 does not exist on 2038-03-14 in America/New_York: the clocks skip it that night."),
])
def test_a_bad_expiry_is_400_in_the_open_panel_and_changes_nothing(alice, alice_key, data, field, error):
    key, _ = alice_key
    events = AuditEvent.objects.count()
    response = signed_in(alice).post(key_url(key, "expiry"), data)
    assert response.status_code == 400
    panel = expiry_panel(response)
    assert panel.has_attr("open") and panel.find(attrs={"role": "alert"})
    assert error in words(panel)
    if field != "timezone":
        assert panel.find("input", attrs={"name": field})["aria-invalid"] == "true"
        assert panel.find("input", attrs={"name": field})["value"] == data[field]  # what was typed stays
    assert expires_at(key) is None and AuditEvent.objects.count() == events


def test_the_company_policy_caps_an_extension(alice, company):
    company.max_key_lifetime_days = 30
    company.save()
    key, _ = make_key(alice, expires_at=django_timezone.now() + timedelta(days=10))
    before = expires_at(key)
    client = signed_in(alice)
    panel = expiry_panel(client.get(key_url(key)))
    assert panel.find("input", attrs={"name": "never_expires"}) is None
    assert "keys live at most 30 days" in words(panel)

    too_late = (django_timezone.now() + timedelta(days=60)).date()
    response = client.post(key_url(key, "expiry"), {"expires_on": f"{too_late:%Y-%m-%d}", "expires_time": "12:00"})
    assert response.status_code == 400
    assert "allows keys to live at most 30 days" in words(expiry_panel(response))
    response = client.post(key_url(key, "expiry"), {"never_expires": "on"})
    assert response.status_code == 400
    assert expires_at(key) == before

    within = (django_timezone.now() + timedelta(days=20)).date()
    response = client.post(key_url(key, "expiry"), {"expires_on": f"{within:%Y-%m-%d}", "expires_time": "12:00"})
    assert response.status_code == 302
    assert expires_at(key) == datetime.combine(within, datetime.min.time().replace(hour=12), tzinfo=UTC)


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_a_revoked_or_expired_key_is_not_given_a_new_expiry(alice, alice_key, state):
    key, _ = alice_key
    if state == "revoked":
        assert signed_in(alice).post(key_url(key, "revoke")).status_code == 302
    else:
        ApiKey.objects.filter(pk=key.pk).update(expires_at=django_timezone.now() - timedelta(days=1))
    before = expires_at(key)
    client = signed_in(alice)
    assert expiry_panel(client.get(key_url(key))) is None
    response = client.post(key_url(key, "expiry"), NEW_YORK)
    assert response.status_code == 409
    assert f"is {state}, so its expiry can no longer be changed; nothing changed." in words(soup(response))
    assert expires_at(key) == before


@pytest.mark.parametrize(("person", "status"), [("bob", 403), ("outsider_admin", 404)])
def test_nobody_else_changes_the_expiry(request, alice_key, person, status):
    key, _ = alice_key
    response = signed_in(request.getfixturevalue(person)).post(key_url(key, "expiry"), NEW_YORK)
    assert response.status_code == status
    assert expires_at(key) is None


def test_an_admin_extends_a_members_key(admin, alice_key):
    key, _ = alice_key
    assert signed_in(admin).post(key_url(key, "expiry"), NEW_YORK).status_code == 302
    assert expires_at(key) == NEW_YORK_IN_UTC


def test_the_expiry_route_takes_only_post(alice, alice_key):
    key, _ = alice_key
    assert signed_in(alice).get(key_url(key, "expiry")).status_code == 405
