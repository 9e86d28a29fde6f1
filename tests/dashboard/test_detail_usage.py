"""A key's page: usage for 7, 30 or 90 days, its limits (set by admins and owners only) and its
history. Traffic is made with the key itself, as a script would."""
import re
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.access import OPERATOR, actor_for
from audit.models import AuditEvent
from keys.limit_services import limits_set
from keys.models import KeyLimit
from keys.services import api_key_revoke, api_key_update
from tests.clients import key_client
from tests.dashboard.conftest import key_url, signed_in
from tests.factories import make_key
from tests.html import JUST_NOW, select, select_one, soup, text, texts
from usage import log_writes
from usage.models import RequestLog

pytestmark = pytest.mark.django_db


# Reading what a person sees -------------------------------------------------------------

def section(response, section_id: str):
    """The part of the page with this id: a card (#usage, #overview) or a panel (#limits, #history)."""
    return select_one(response, f"section#{section_id}, details#{section_id}")


def rows(part, table: str = "table") -> list[list[str]]:
    """The cells' text of each row in the body of the first table the selector names."""
    return [texts(row, "th, td") for row in select_one(part, table).select("tbody > tr")]


def totals(response) -> dict:
    return {text(pair.dt): text(pair.dd) for pair in select(section(response, "usage"), "dl.totals > div")}


def messages_of(response) -> str:
    return " ".join(str(m) for m in response.context["messages"])


# Traffic ----------------------------------------------------------------------------------

@pytest.fixture
def traffic(alice_key):
    """Alice's key today: 3 free /me, 2 standard echoes (100 µ¢ each), 1 premium report refused
    for its body (400, still charged 1000 µ¢): 6 requests, 5 successful, 1 failed, 1200 µ¢."""
    key, raw = alice_key
    client = key_client(raw)
    for _ in range(3):
        assert client.get("/api/v1/me").status_code == 200
    for _ in range(2):
        assert client.get("/api/v1/demo/echo").status_code == 200
    assert client.post("/api/v1/demo/report", {"nope": 1}, format="json").status_code == 400
    return key


def old_traffic(key, days_ago: int, count: int) -> None:
    """Requests logged `days_ago` days back, through the recorder that writes the real log."""
    at = timezone.now() - timedelta(days=days_ago)
    log_writes.write([RequestLog(api_key=key, company=key.company, user=key.owner, created_at=at, method="GET",
                               path="/api/v1/me", status_code=200, latency_ms=3, tier="free")
                    for _ in range(count)])


# Usage ------------------------------------------------------------------------------------

def test_usage_totals_chart_and_tables_for_the_keys_traffic(alice, traffic):
    response = signed_in(alice).get(key_url(traffic))
    assert response.status_code == 200
    assert totals(response) == {"Requests": "6", "Successful": "5", "Failed": "1", "Spend": "$0.000012"}
    usage = section(response, "usage")
    assert select(usage, '[title="1200 microcents"]') and "1 cent = 1,000,000 microcents" in text(usage)

    # Requests and spend each on a chart of its own, for desktops and for phones.
    chart, narrow, spend, narrow_spend = select(usage, "svg")
    for drawing, name, metric, title in ((chart, "wide", "requests", "Requests per day"),
                                         (narrow, "narrow", "requests", "Requests per day"),
                                         (spend, "wide", "spend", "Spend (US$) per day"),
                                         (narrow_spend, "narrow", "spend", "Spend (US$) per day")):
        assert drawing["class"] == ["usage-chart", f"usage-chart-{name}", f"usage-chart-{metric}"]
        assert (drawing["width"], drawing["role"]) == ("100%", "img")
        assert text(select_one(drawing, f"title#chart-title-{metric}-{name}")) == f"{title}, last 30 days"
        summary = ("6 in all, 5 successful and 1 failed; spend $0.000012." if metric == "requests"
                   else "$0.000012 in all. Highest day: " + f"{timezone.now():%b} {timezone.now().day}, $0.000012.")
        assert f"per day over the last 30 days (UTC): {summary}" in text(drawing)
    today = timezone.now()
    [bar] = [day for day in select(chart, "g.bars > g") if text(day.title) == (
        f"{today:%b} {today.day}: 6 requests (5 successful, 1 failed), spend $0.000012")]
    assert [rect["class"] for rect in bar.select("rect")] == [["bar-successful"], ["bar-failed"]]
    successful, failed = (float(rect["height"]) for rect in bar.select("rect"))
    assert successful == pytest.approx(5 * failed, abs=0.2)  # stacked to scale: 5 successful on 1 failed
    assert len(select(chart, "rect.bar-failed")) == 30 and not select(chart, ".bar-spend")
    # Spend is today's real amount, one bar per day, on its own scale: no line rising from zero.
    assert len(select(spend, "rect.bar-spend")) == 30 and not select(spend, "polyline")
    heights = [float(rect["height"]) for rect in select(spend, "rect.bar-spend")]
    ticks = text(select_one(spend, "g.grid"))
    assert ticks == "$0.00 $0.000005 $0.00001 $0.000015"  # a scale in dollars, from 0 to above today's spend
    assert heights[:-1] == [0.0] * 29 and heights[-1] == pytest.approx(126 * 12 / 15, abs=0.2)

    table = rows(usage, "table.data.compact#usage-table")
    assert len(table) == 30
    assert table[-1] == [f"{today:%Y-%m-%d}", "6", "5", "1", "$0.000012"]
    assert all(row[1:] == ["0", "0", "0", "$0.00"] for row in table[:-1])

    assert rows(usage, 'table.data[aria-labelledby="tiers-title"]') == [
        ["Free", "3", "$0.00"], ["Premium", "1", "$0.00001"], ["Standard", "2", "$0.000002"]]
    [error] = rows(usage, 'table.data[aria-labelledby="errors-title"]')
    assert error[:3] == ["400", "validation_error", "1"] and JUST_NOW.fullmatch(error[3])


def test_a_key_without_traffic_says_so(alice, alice_key):
    key, _ = alice_key
    response = signed_in(alice).get(key_url(key))
    assert totals(response) == {"Requests": "0", "Successful": "0", "Failed": "0", "Spend": "$0.00"}
    usage = text(section(response, "usage"))
    assert "No requests in the last 30 days." in usage and "No failed requests in the last 30 days." in usage


@pytest.mark.parametrize(("query", "days", "requests", "note"), [
    ("", 30, 11, False),
    ("?days=7", 7, 6, False),
    ("?days=30", 30, 11, False),
    ("?days=90", 90, 14, False),
    ("?days=365", 30, 11, True),
    ("?days=abc", 30, 11, True),
    ("?days=-7", 30, 11, True),
    ("?days=7.0", 30, 11, True),
    ("?days=" + "9" * 400, 30, 11, True),
])
def test_the_period_switch(alice, traffic, query, days, requests, note):
    old_traffic(traffic, days_ago=20, count=5)
    old_traffic(traffic, days_ago=60, count=3)
    response = signed_in(alice).get(key_url(traffic) + query)
    assert response.status_code == 200
    assert totals(response)["Requests"] == str(requests)
    usage = section(response, "usage")
    assert f"Usage, last {days} days" in text(usage)
    assert len(rows(usage, "table.data.compact#usage-table")) == days
    [current] = select(usage, '[aria-current="true"]')
    assert (current.name, current["href"], text(current)) == ("a", f"?days={days}#usage", f"{days} days")
    assert ("is not a period this page offers (7, 30 or 90 days); showing 30 days." in text(usage)) == note


def test_the_page_fetches_nothing_from_elsewhere(alice, traffic):
    page = signed_in(alice).get(key_url(traffic))
    addresses = [node[name] for name in ("src", "href") for node in select(page, f"[{name}]")]
    assert addresses and not [address for address in addresses if re.match(r"(https?:)?//", address)]


# Limits -----------------------------------------------------------------------------------

LIMITS = {"request_limit": "1000", "budget": "0.50", "reset_period": "monthly", "enabled": "on"}


def limit_row(key):
    return KeyLimit.objects.filter(api_key=key).values_list(
        "request_limit", "budget_limit_microcents", "reset_period", "enabled").first()


def limit_events(key) -> list[tuple]:
    return list(AuditEvent.objects.filter(api_key=key, action__startswith="limits.").order_by("id")
                .values_list("action", "actor_label", "surface"))


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_admins_and_owners_set_change_and_remove_limits(request, role, alice_key):
    key, _ = alice_key
    person = request.getfixturevalue(role)
    client = signed_in(person)
    assert select(section(client.get(key_url(key)), "limits"), f'form[action="{key_url(key, "limits")}"]')

    response = client.post(key_url(key, "limits"), LIMITS)
    assert response.status_code == 302 and response["Location"] == key_url(key) + "#limits"
    assert limit_row(key) == (1000, 50_000_000, "monthly", True)
    page = client.get(key_url(key))
    assert messages_of(page) == (f"Limits set for “{key.name}”: request limit: 1,000; budget: $0.50; resets: monthly; "
                                 "enforced: yes. They apply from the next request.")
    shown = text(section(page, "overview"))
    assert "Requests this period 0 of 1,000 (0%)" in shown and "Spend this period $0.00 of $0.50 (0%)" in shown

    changed = {**LIMITS, "request_limit": "500", "reset_period": "weekly", "days": "7"}
    response = client.post(key_url(key, "limits"), changed, follow=True)
    assert response.redirect_chain == [(key_url(key) + "?days=7#limits", 302)]
    assert limit_row(key) == (500, 50_000_000, "weekly", True)
    assert messages_of(response) == (f"Limits of “{key.name}” changed: request limit: 1,000 → 500; "
                                     "resets: monthly → weekly. They apply from the next request.")

    response = client.post(key_url(key, "limits"), changed, follow=True)
    assert messages_of(response) == f"The limits of “{key.name}” were already these; nothing changed."

    response = client.post(key_url(key, "limits/remove"), follow=True)
    assert limit_row(key) is None
    assert messages_of(response).startswith(f"Removed the limits of “{key.name}” (they were request limit: 500;")
    assert "0 in the last 30 days; no request limit" in text(section(response, "overview"))
    assert "Remove limits" not in text(section(response, "limits"))
    assert limit_events(key) == [("limits.set", person.username, "dashboard"),
                                 ("limits.changed", person.username, "dashboard"),
                                 ("limits.removed", person.username, "dashboard")]

    response = client.post(key_url(key, "limits/remove"), follow=True)
    assert messages_of(response) == f"“{key.name}” had no limits; nothing changed."
    assert len(limit_events(key)) == 3


def test_a_limited_key_shows_this_periods_use(admin, alice_key):
    key, raw = alice_key
    signed_in(admin).post(key_url(key, "limits"), {"request_limit": "10", "budget": "0.00001",
                                                   "reset_period": "daily", "enabled": "on"})
    client = key_client(raw)
    for _ in range(3):
        assert client.get("/api/v1/demo/echo").status_code == 200  # 100 µ¢ each
    limits = section(signed_in(admin).get(key_url(key)), "overview")
    assert "Requests this period 3 of 10 (30%)" in text(limits)
    assert "Spend this period $0.000003 of $0.00001 (30%)" in text(limits)
    assert [(bar["max"], bar["value"]) for bar in select(limits, "progress")] == [("100", "30")] * 2
    assert "Period resets" in text(limits) and "(Daily (UTC calendar day))" in text(limits)


def test_the_keys_owner_sees_its_limits_but_no_form(alice, alice_key):
    key, _ = alice_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=100, reset_period="weekly")
    page = signed_in(alice).get(key_url(key))
    overview = text(section(page, "overview"))
    assert "Requests this period 0 of 100 (0%)" in overview
    assert "Only company admins and owners change a key's limits." in overview
    assert not select(page, "#limits") and "Remove limits" not in page.content.decode()


@pytest.mark.parametrize(("action", "data"), [("limits", LIMITS), ("limits/remove", {})])
@pytest.mark.parametrize(("person", "status", "message"), [
    ("alice", 403, "Only company admins and owners may change a key's limits."),
    ("bob", 403, "Only the key's owner or a company admin may manage this key."),
    ("outsider_admin", 404, "No API key with this id in your company."),
])
def test_a_post_by_anyone_else_changes_nothing(request, alice_key, action, data, person, status, message):
    key, _ = alice_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=100, reset_period="weekly")
    events = AuditEvent.objects.count()
    response = signed_in(request.getfixturevalue(person)).post(key_url(key, action), data)
    assert response.status_code == status
    assert message in text(soup(response))
    assert limit_row(key) == (100, None, "weekly", True)
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize(("field", "value", "error"), [
    ("request_limit", "-1", "Enter 0 or more; leave it empty for no limit."),
    ("request_limit", "abc", "Enter a whole number without separators, e.g. 1000"),
    ("request_limit", "1,000", "Enter a whole number without separators, e.g. 1000"),
    ("request_limit", "2.5", "Enter a whole number without separators, e.g. 1000"),
    ("request_limit", str(10**13), "That is more than 1,000,000,000,000; check for extra zeros."),
    ("budget", "-5", "Enter 0 or more; leave it empty for no budget."),
    ("budget", "$5", "Enter dollars and cents without a $ sign or separators, e.g. 12.50, or leave it empty."),
    ("budget", "1,000.00", "Enter dollars and cents without a $ sign or separators, e.g. 12.50, or leave it empty."),
    ("budget", str(10**8), "That is more than $10,000,000.00; check for extra zeros."),
    ("budget", "0.000000001", "Prices go down to a millionth of a cent: at most 8 decimal places."),
    ("reset_period", "yearly", "Select a valid choice. yearly is not one of the available choices."),
    ("reset_period", "", "This field is required."),
])
def test_bad_values_are_400_and_change_nothing(admin, alice_key, field, value, error):
    key, _ = alice_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=100, reset_period="weekly")
    events = AuditEvent.objects.count()
    response = signed_in(admin).post(key_url(key, "limits"), {**LIMITS, field: value})
    assert response.status_code == 400
    assert "The limits were not saved" in response.content.decode()
    limits = section(response, "limits")
    assert error in text(limits)
    assert field == "reset_period" or select_one(limits, f'[name="{field}"]')["value"] == value  # what was typed stays
    assert limit_row(key) == (100, None, "weekly", True)
    assert AuditEvent.objects.count() == events


def test_limits_need_a_number_or_a_budget(admin, alice_key):
    key, _ = alice_key
    response = signed_in(admin).post(key_url(key, "limits"), {**LIMITS, "request_limit": "", "budget": ""})
    assert response.status_code == 400
    assert "Set a request limit, a budget or both." in text(section(response, "limits"))
    assert limit_row(key) is None and not limit_events(key)


def test_limits_of_a_revoked_key_are_not_changed(admin, alice_key):
    key, _ = alice_key
    api_key_revoke(api_key=key, actor_user=admin)
    client = signed_in(admin)
    assert "Save limits" not in client.get(key_url(key)).content.decode()
    response = client.post(key_url(key, "limits"), LIMITS)
    assert response.status_code == 409
    assert "is revoked, so its limits can no longer be changed; nothing changed." in messages_of(response)
    assert limit_row(key) is None


def test_limits_forms_need_their_csrf_token(admin, alice_key):
    key, _ = alice_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=100, reset_period="weekly")
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    forms = select(section(client.get(key_url(key)), "limits"), 'form[method="post"]')
    assert len(forms) == 2 and all(form.select_one('input[name="csrfmiddlewaretoken"]') for form in forms)
    assert client.post(key_url(key, "limits"), {**LIMITS, "request_limit": "1"}).status_code == 403
    assert client.post(key_url(key, "limits/remove")).status_code == 403
    assert limit_row(key) == (100, None, "weekly", True)


@pytest.mark.parametrize("action", ["limits", "limits/remove"])
def test_limits_routes_take_only_post(admin, alice_key, action):
    key, _ = alice_key
    assert signed_in(admin).get(key_url(key, action)).status_code == 405


# History ----------------------------------------------------------------------------------

def history(response) -> list[list[str]]:
    return rows(section(response, "history"))


def test_history_lists_the_keys_events_newest_first(admin, alice, alice_key, bob):
    key, raw = alice_key
    bobs_key, _ = make_key(bob, name="Bob's pipeline")
    signed_in(bob).post(key_url(bobs_key, "rename"), {"name": "Bob's secret project"})
    signed_in(alice).post(key_url(key, "rename"), {"name": "Alice's desktop"})
    signed_in(admin).post(key_url(key, "limits"), {**LIMITS, "budget": ""})
    assert key_client(raw).delete(f"/api/v1/api-keys/{key.pk}").status_code == 204

    for person in (alice, admin):
        response = signed_in(person).get(key_url(key))
        found = history(response)
        assert [row[1:4] for row in found] == [
            ["Key revoked", f"alice with key {key.prefix}…", "API"],
            ["Limits set", "adam", "Dashboard"],
            ["Key renamed", "alice", "Dashboard"],
            ["Key created", "operator", "Management command"],
        ]
        assert found[0][4] == "—"
        assert found[1][4] == "request limit: 1,000; budget: none; resets: monthly; enforced: yes"
        assert found[2][4] == "name: “Alice's laptop” → “Alice's desktop”"
        assert found[3][4].startswith("name: “Alice's laptop”; mode: live; owner: alice; expires: never")
        assert all(JUST_NOW.fullmatch(row[0]) for row in found), [row[0] for row in found]
        assert "Bob" not in text(section(response, "history"))
    latest = AuditEvent.objects.filter(api_key=key).latest("id").created_at
    assert f"{latest:%Y-%m-%d %H:%M:%S} UTC" in [when["title"] for when in select(section(response, "history"), "time")]


def test_history_shows_the_latest_twenty_and_says_there_are_more(alice, alice_key):
    key, _ = alice_key
    for number in range(1, 26):
        api_key_update(api_key=key, name=f"Name {number}", grantor=actor_for(alice))
    found = history(signed_in(alice).get(key_url(key)))
    assert len(found) == 20
    assert found[0][4] == "name: “Name 24” → “Name 25”" and found[-1][4] == "name: “Name 5” → “Name 6”"
    note = text(section(signed_in(alice).get(key_url(key)), "history"))
    assert "Showing the latest 20 events; older ones are in the audit log" in note
    assert f"GET /api/v1/audit-events?key={key.pk}" in note


def test_history_never_shows_a_secret(alice, alice_key):
    key, _ = alice_key
    response = signed_in(alice).post(key_url(key, "regenerate"), {"from": "detail"})
    raw = text(select_one(response, "[data-select-all]"))
    assert re.fullmatch(r"sk_live_[0-9A-Za-z]{38}", raw)
    page = signed_in(alice).get(key_url(key)).content.decode()
    key.refresh_from_db()
    assert history(signed_in(alice).get(key_url(key)))[0][1] == "Key regenerated"
    assert raw not in page and raw[len(key.prefix):] not in page and key.key_hash not in page


# Another company's key --------------------------------------------------------------------

@pytest.mark.parametrize(("method", "action"), [("get", ""), ("get", "?days=7"), ("post", "limits"),
                                                ("post", "limits/remove")])
def test_another_companys_key_is_404(outsider_admin, alice_key, method, action):
    key, _ = alice_key
    url = key_url(key) + action if action.startswith("?") else key_url(key, action)
    response = getattr(signed_in(outsider_admin), method)(url, LIMITS if method == "post" else None)
    assert response.status_code == 404
    assert "Alice" not in response.content.decode()
    assert limit_row(key) is None


def test_an_unknown_key_id_is_404(admin):
    assert signed_in(admin).get(f"/settings/advanced/api-keys/{uuid.uuid4()}/?days=7").status_code == 404


def test_a_period_typed_into_the_address_is_shown_escaped(alice, alice_key):
    key, _ = alice_key
    response = signed_in(alice).get(key_url(key) + "?days=%3Cb%3Ebold")
    assert response.status_code == 200
    assert "“<b>bold” is not a period this page offers" in text(section(response, "usage"))
    assert "<b>bold" not in response.content.decode()
