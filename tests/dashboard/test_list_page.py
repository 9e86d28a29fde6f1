"""The personal list as a person uses it with many keys: search and status filters (the company
view's, shared), a week of use per row, statuses in words, and the create form's hints."""
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from django.utils import timezone

from keys.models import ApiKey
from keys.services import api_key_revoke
from tests.dashboard.conftest import COMPANY_URL, LIST_URL, NEW_URL, signed_in
from tests.factories import make_key
from usage import log_writes
from usage.models import RequestLog

pytestmark = pytest.mark.django_db


def listed(html: str) -> list[str]:
    """The names of the listed keys, in order, leaving out the folded list of revoked keys."""
    page = BeautifulSoup(html, "html.parser")
    for revoked in page.select("details.revoked"):
        revoked.decompose()
    return [link.get_text() for link in page.select("a.key-name[href]")]


def traffic(key, days_ago: int, count: int) -> None:
    at = timezone.now() - timedelta(days=days_ago)
    log_writes.write([RequestLog(api_key=key, company=key.company, user=key.owner, created_at=at, method="GET",
                                 path="/api/v1/me", status_code=200, latency_ms=3, tier="free")
                      for _ in range(count)])


@pytest.fixture
def keys(alice, bob):
    made = {name: make_key(alice, name=name, mode=mode)[0]
            for name, mode in [("Production server", "live"), ("CI runner", "test"), ("Old export", "live")]}
    api_key_revoke(api_key=made["Old export"])
    make_key(bob, name="Bob's production")
    return made


@pytest.mark.parametrize("query, expected", [
    ({"q": "production"}, ["Production server"]),  # part of the name, any case
    ({"mode": "test"}, ["CI runner"]),
    ({"status": "revoked"}, ["Old export"]),
    ({"q": "nothing like it"}, []),
    ({"q": "…"}, []),  # dots alone are no prefix: they matched every key
    ({"q": "..."}, []),
])
def test_the_personal_list_searches_and_filters_only_the_persons_keys(alice, keys, query, expected):
    html = signed_in(alice).get(LIST_URL, query).content.decode()
    assert listed(html) == expected
    assert "Bob&#x27;s production" not in html and 'name="owner"' not in html
    if not expected:
        assert "No key of yours matches these filters" in html


def test_search_finds_a_key_by_the_prefix_shown_for_it(alice, keys):
    prefix = keys["CI runner"].prefix
    html = signed_in(alice).get(LIST_URL, {"q": prefix + "…"}).content.decode()
    assert listed(html) == ["CI runner"]


def test_the_company_view_searches_with_the_same_box(admin, keys):
    html = signed_in(admin).get(COMPANY_URL, {"q": "production"}).content.decode()
    assert sorted(listed(html)) == ["Bob's production", "Production server"]
    assert 'name="owner"' in html and 'type="search" name="q"' in html


def test_each_row_shows_its_week_of_requests_with_the_total_in_words(alice, keys):
    traffic(keys["Production server"], 0, 30)
    traffic(keys["Production server"], 3, 12)
    traffic(keys["Production server"], 10, 99)  # before the week: not counted
    html = signed_in(alice).get(LIST_URL).content.decode()
    row = html[html.index(f'id="key-{keys["Production server"].pk}"'):]
    row = row[:row.index("</tr>")]
    assert 'aria-label="42 requests in the last 7 days"' in row and row.count("<rect") == 7
    assert 'aria-label="0 requests in the last 7 days"' in html  # the CI runner's


def test_an_active_key_never_used_says_unused_and_an_expiring_one_its_days(alice):
    make_key(alice, name="Fresh")
    make_key(alice, name="Soon", expires_at=timezone.now() + timedelta(days=3, hours=1))
    html = signed_in(alice).get(LIST_URL).content.decode()
    assert "Unused" in html and "Expiring in 4 days" in html


def test_a_blank_name_comes_back_in_the_lists_dialog_with_its_error(alice):
    response = signed_in(alice).post(NEW_URL, {"name": "   ", "never_expires": "on", "mode": "live", "from": "list"})
    html = response.content.decode()
    assert response.status_code == 400 and "<h1>API-keys</h1>" in html
    assert 'id="create-dialog" aria-labelledby="create-title" open data-reopen' in html
    assert "Give the key a name" in html and not ApiKey.objects.exists()


def test_a_second_active_key_of_the_same_name_gets_a_hint_and_is_made(alice):
    first, _ = make_key(alice, name="Production server")
    response = signed_in(alice).post(NEW_URL, {"name": "Production server", "never_expires": "on", "mode": "live"})
    html = response.content.decode()
    assert response.status_code == 200 and 'id="same-name-hint"' in html
    hint = html[html.index('id="same-name-hint"'):].split("</p>")[0]
    assert first.prefix in hint and "1 other active key" in hint
    assert ApiKey.objects.filter(owner=alice, name="Production server").count() == 2


def test_no_hint_when_the_name_is_new(alice):
    html = signed_in(alice).post(NEW_URL, {"name": "Unique", "never_expires": "on", "mode": "live"}).content.decode()
    assert 'id="same-name-hint"' not in html and 'data-test-key="new-key-value"' in html


def test_the_revoke_dialog_names_the_keys_prefix(alice, keys):
    html = signed_in(alice).get(LIST_URL).content.decode()
    key = keys["Production server"]
    assert f'data-confirm-title="Revoke “Production server” ({key.prefix}…)?"' in html
