"""The admins' view of every key of the company, with its filters."""
from datetime import timedelta

import pytest
from django.utils import timezone

from keys.models import ApiKey
from keys.services import api_key_revoke
from tests.dashboard.conftest import COMPANY_URL, signed_in
from tests.factories import make_key
from tests.html import select, select_one, text, texts

pytestmark = pytest.mark.django_db


@pytest.fixture
def keys(alice, bob):
    make_key(alice, name="alice-live")
    make_key(alice, name="alice-test", mode="test")
    make_key(bob, name="bob-live")
    expired, _ = make_key(bob, name="bob-expired", expires_at=timezone.now() + timedelta(seconds=1))
    ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
    api_key_revoke(api_key=make_key(bob, name="bob-revoked")[0])


def names(html: str) -> set[str]:
    return set(texts(html, "a.key-name[href]"))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({}, {"alice-live", "alice-test", "bob-live", "bob-expired", "bob-revoked"}),
        ({"owner": "alice"}, {"alice-live", "alice-test"}),
        ({"status": "active"}, {"alice-live", "alice-test", "bob-live"}),
        ({"status": "expired"}, {"bob-expired"}),
        ({"status": "revoked"}, {"bob-revoked"}),
        ({"mode": "test"}, {"alice-test"}),
        ({"owner": "bob", "mode": "live", "status": "active"}, {"bob-live"}),
    ],
)
def test_filters(request, admin, keys, query, expected):
    if "owner" in query:
        query = {**query, "owner": request.getfixturevalue(query["owner"]).pk}
    assert names(signed_in(admin).get(COMPANY_URL, query).content.decode()) == expected


def test_without_a_status_filter_revoked_keys_are_folded(admin, keys):
    html = signed_in(admin).get(COMPANY_URL).content.decode()
    visible, folded = html.split("<summary>Show revoked (1)</summary>")
    assert "bob-revoked" in folded and "bob-revoked" not in visible


def test_owner_column_names_each_keys_owner(admin, keys):
    html = signed_in(admin).get(COMPANY_URL, {"status": "active"}).content.decode()
    [row] = [row for row in select(html, 'tr[id^="key-"]') if "bob-live" in texts(row, "a.key-name")]
    assert text(select_one(row, 'td[data-label="Owner"]')) == "bob"


@pytest.mark.parametrize("query", [{"owner": "999999"}, {"owner": "x"}, {"status": "lost"}, {"mode": "prod"}])
def test_a_bad_filter_is_reported_and_ignored(admin, keys, query):
    response = signed_in(admin).get(COMPANY_URL, query)
    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    assert len(names(response.content.decode())) == 5


def test_no_match_offers_to_clear_the_filters(admin, keys):
    html = signed_in(admin).get(COMPANY_URL, {"owner": admin.pk}).content.decode()
    assert "No key matches these filters." in html and "Clear filters" in html


def test_a_long_list_comes_in_pages_that_keep_the_filters(admin, alice, bob):
    for n in range(53):
        make_key(alice, name=f"alice-{n:02}")
    make_key(bob, name="bob-live")
    client = signed_in(admin)
    first = client.get(COMPANY_URL, {"owner": alice.pk}).content.decode()
    assert len(names(first)) == 50 and "alice-52" in names(first) and "alice-02" not in names(first)
    assert "Keys 1–50 of 53 · page 1 of 2" in first
    assert f'href="{COMPANY_URL}?owner={alice.pk}&amp;page=2" rel="next"' in first
    second = client.get(COMPANY_URL, {"owner": alice.pk, "page": 2}).content.decode()
    assert names(second) == {"alice-02", "alice-01", "alice-00"}
    assert f'href="{COMPANY_URL}?owner={alice.pk}&amp;page=1" rel="prev"' in second
    # Past the last page, or not a number: the nearest page, not an error.
    assert names(client.get(COMPANY_URL, {"owner": alice.pk, "page": 99}).content.decode()) == names(second)
    assert client.get(COMPANY_URL, {"page": "x"}).status_code == 200


def test_only_the_latest_revoked_keys_are_folded_under_the_list(admin, alice):
    for n in range(23):
        api_key_revoke(api_key=make_key(alice, name=f"old-{n:02}")[0])
    html = signed_in(admin).get(COMPANY_URL).content.decode()
    folded = html.split("<summary>Show revoked (23)</summary>")[1]
    assert len(names(folded)) == 20 and "old-22" in folded and "old-02" not in folded
    assert f'The latest 20 of 23. <a href="{COMPANY_URL}?status=revoked">Every revoked key</a>' in folded
