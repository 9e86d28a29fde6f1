"""A key's page as a person meets it: the overview first, editing in closed panels, messages in
the panel that changed, the budget in dollars and "Remove limits" quiet and confirmed."""
import pytest
from bs4 import BeautifulSoup

from accounts.access import OPERATOR
from audit.models import AuditEvent
from keys.limit_services import limits_set
from keys.models import ApiKey, KeyLimit
from tests.clients import key_client
from tests.dashboard.conftest import key_url, signed_in

pytestmark = pytest.mark.django_db

PANELS = ["name", "expiry", "limits", "restrictions"]


def soup(response) -> BeautifulSoup:
    return BeautifulSoup(response.content, "html.parser")


def words(element) -> str:
    return " ".join(element.get_text(" ").split())


def panel(page: BeautifulSoup, name: str):
    found = page.find("details", id=name)
    assert found is not None, f"no {name} panel"
    return found


def test_the_overview_comes_first_and_every_panel_is_closed(admin, alice_key):
    key, _ = alice_key
    page = soup(signed_in(admin).get(key_url(key)))
    body = page.find(class_="settings-body")
    cards = [element.get("id") for element in body.find_all(["section", "details"], class_="card", recursive=False)]
    assert cards[:2] == ["overview", "usage"]
    overview = words(page.find(id="overview"))
    for label in ("Requests this period", "Spend this period", "Last used Never", "Expires"):
        assert label in overview
    assert [panel(page, name).has_attr("open") for name in PANELS] == [False] * 4
    assert panel(page, "expiry").summary.get_text(" ", strip=True).startswith("Expiry")


def test_a_used_up_key_says_so_and_the_overview_counts_what_the_api_counts(admin, alice_key):
    key, raw = alice_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=2, reset_period="daily")
    client = key_client(raw)
    assert [client.get("/api/v1/demo/echo").status_code for _ in range(3)] == [200, 200, 429]
    page = soup(signed_in(admin).get(key_url(key)))
    assert words(page.find(class_="key-head").find(class_="status")).startswith("Limit reached until ")
    meter = page.find(id="requests-use")
    assert words(meter) == "2 of 2 (100%)"
    assert "full" in page.find("progress", attrs={"aria-labelledby": "requests-use"})["class"]


def test_the_budget_is_typed_and_shown_in_dollars(admin, alice_key):
    key, _ = alice_key
    client = signed_in(admin)
    response = client.post(key_url(key, "limits"), {"request_limit": "", "budget": "12.50", "reset_period": "monthly",
                                                    "enabled": "on"})
    assert response.status_code == 302 and response["Location"].endswith("#limits")
    assert KeyLimit.objects.get(api_key=key).budget_limit_microcents == 1_250_000_000
    page = soup(client.get(key_url(key)))
    assert page.find("input", attrs={"name": "budget"})["value"] == "12.50"
    assert words(page.find(id="budget-use")) == "$0.00 of $12.50 (0%)"
    assert "$12.50, monthly" in words(panel(page, "limits").summary)


@pytest.mark.parametrize(("data", "field", "error"), [
    ({"budget": "1e3"}, "budget", "Enter dollars and cents without a $ sign or separators"),  # not $1,000
    ({"budget": "١٢.٥٠"}, "budget", "Enter dollars and cents without a $ sign or separators"),
    ({"budget": "1_000"}, "budget", "Enter dollars and cents without a $ sign or separators"),
    ({"request_limit": "١٠٠"}, "request_limit", "Enter a whole number without separators"),
    ({"request_limit": "100.0"}, "request_limit", "Enter a whole number without separators"),
    ({"request_limit": "1e2"}, "request_limit", "Enter a whole number without separators"),
])
def test_a_limit_is_typed_in_ascii_digits_and_a_point_only(admin, alice_key, data, field, error):
    key, _ = alice_key
    events = AuditEvent.objects.count()
    response = signed_in(admin).post(key_url(key, "limits"), {"request_limit": "", "budget": "",
                                                              "reset_period": "monthly", "enabled": "on", **data})
    assert response.status_code == 400
    limits = panel(soup(response), "limits")
    assert limits.has_attr("open") and error in words(limits)
    assert limits.find("input", attrs={"name": field})["aria-invalid"] == "true"
    assert not KeyLimit.objects.filter(api_key=key).exists() and AuditEvent.objects.count() == events


def test_a_budget_may_start_with_its_point(admin, alice_key):
    key, _ = alice_key
    response = signed_in(admin).post(key_url(key, "limits"), {"budget": " .5 ", "reset_period": "monthly"})
    assert response.status_code == 302
    assert KeyLimit.objects.get(api_key=key).budget_limit_microcents == 50_000_000


def test_save_limits_is_the_primary_button_and_remove_limits_is_quiet_and_confirmed(admin, alice_key):
    key, _ = alice_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=100, reset_period="weekly")
    limits = panel(soup(signed_in(admin).get(key_url(key))), "limits")
    save = limits.find("button", string="Save limits")
    remove = limits.find("button", string="Remove limits")
    assert "primary" in save["class"]
    assert "quiet" in remove["class"] and "danger" not in remove["class"] and "primary" not in remove["class"]
    assert remove.has_attr("data-confirm") and remove["data-confirm-title"] == "Remove the limits of “Alice's laptop”?"


def test_a_saved_panel_says_so_inside_itself_and_opens(admin, alice_key):
    key, _ = alice_key
    client = signed_in(admin)
    response = client.post(key_url(key, "restrictions"), {"allowed_ips": "10.0.0.0/8", "scopes": ["all"]},
                           follow=True)
    page = soup(response)
    restrictions = panel(page, "restrictions")
    assert restrictions.has_attr("open")
    status = restrictions.find(attrs={"role": "status"})
    assert "Restrictions of “Alice's laptop” changed: IP addresses: any → 10.0.0.0/8." in words(status)
    assert page.find(class_="messages") is None  # not repeated at the top, far from what changed
    assert [panel(page, name).has_attr("open") for name in ("name", "expiry", "limits")] == [False] * 3
    assert not panel(soup(client.get(key_url(key))), "restrictions").has_attr("open")  # said once


def test_a_blank_name_stays_on_the_page_with_the_error_in_its_panel(alice, alice_key):
    key, _ = alice_key
    response = signed_in(alice).post(key_url(key, "name"), {"name": "   "})
    assert response.status_code == 400
    page = soup(response)
    name = panel(page, "name")
    assert name.has_attr("open") and name.find(attrs={"role": "alert"})
    assert "Give the key a name" in words(name)
    assert page.find("h1").get_text(strip=True) == "Alice's laptop"
    assert ApiKey.objects.get(pk=key.pk).name == "Alice's laptop"


def test_renaming_says_so_in_the_name_panel(alice, alice_key):
    key, _ = alice_key
    response = signed_in(alice).post(key_url(key, "name"), {"name": "Billing worker"}, follow=True)
    assert response.redirect_chain == [(key_url(key) + "#name", 302)]
    name = panel(soup(response), "name")
    assert "Renamed “Alice's laptop” to “Billing worker”." in words(name.find(attrs={"role": "status"}))
    assert ApiKey.objects.get(pk=key.pk).name == "Billing worker"


def test_a_revoked_key_offers_no_editing_and_refuses_it(alice, alice_key):
    key, _ = alice_key
    assert signed_in(alice).post(key_url(key, "revoke")).status_code == 302
    client = signed_in(alice)
    page = soup(client.get(key_url(key)))
    assert not page.find_all("details", class_="panel", id=PANELS)
    events = AuditEvent.objects.count()
    response = client.post(key_url(key, "name"), {"name": "Another"})
    assert response.status_code == 409
    assert "is revoked, so its name can no longer be changed; nothing changed." in words(soup(response))
    assert ApiKey.objects.get(pk=key.pk).name == "Alice's laptop" and AuditEvent.objects.count() == events


def test_a_revoked_key_s_limits_are_not_removed_either(admin, alice_key):
    key, _ = alice_key
    limits_set(api_key=key, grantor=OPERATOR, request_limit=50)
    client = signed_in(admin)
    assert client.post(key_url(key, "revoke")).status_code == 302
    response = client.post(key_url(key, "limits/remove"))
    assert response.status_code == 409
    assert "is revoked, so its limits can no longer be changed; nothing changed." in words(soup(response))
    assert KeyLimit.objects.get(api_key=key).request_limit == 50


def test_the_page_loads_its_script_from_the_site(alice, alice_key):
    key, _ = alice_key
    page = soup(signed_in(alice).get(key_url(key)))
    scripts = [tag.get("src") for tag in page.find_all("script")]
    assert "/static/js/detail.js" in scripts and None not in scripts  # no inline script under the CSP


def test_the_overview_counts_what_the_api_enforces_not_every_logged_request(admin, alice_key):
    """The limit counts product requests from when it is set; /me is free. The overview shows
    that count, as the 429 would, and says how it differs from the chart."""
    key, raw = alice_key
    client = key_client(raw)
    assert client.get("/api/v1/demo/echo").status_code == 200  # before any limit: not counted
    limits_set(api_key=key, grantor=OPERATOR, request_limit=2, reset_period="daily")
    assert [client.get(path).status_code for path in ("/api/v1/me", "/api/v1/demo/echo")] == [200, 200]
    page = soup(signed_in(admin).get(key_url(key)))
    assert words(page.find(id="requests-use")) == "1 of 2 (50%)"
    assert "calls that manage keys (such as /api/v1/me ) are free" in words(page.find(id="limits-counting"))
    assert [client.get("/api/v1/demo/echo").status_code for _ in range(2)] == [200, 429]  # 1 + 1 = 2 of 2
