"""The admins' view of every key of the company, with its filters."""
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from keys.models import ApiKey
from keys.services import api_key_revoke
from tests.dashboard.conftest import COMPANY_URL, signed_in
from tests.factories import make_key

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
    return set(re.findall(r'class="key-name" href="[^"]+">([^<]+)</a>', html))


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
    row = re.search(r'<tr id="key-.*?bob-live.*?</tr>', html, flags=re.S).group()
    assert '<td data-label="Owner">bob</td>' in row


@pytest.mark.parametrize("query", [{"owner": "999999"}, {"owner": "x"}, {"status": "lost"}, {"mode": "prod"}])
def test_a_bad_filter_is_reported_and_ignored(admin, keys, query):
    response = signed_in(admin).get(COMPANY_URL, query)
    assert response.status_code == 200
    assert "Select a valid choice." in response.content.decode()
    assert len(names(response.content.decode())) == 5


def test_no_match_offers_to_clear_the_filters(admin, keys):
    html = signed_in(admin).get(COMPANY_URL, {"owner": admin.pk}).content.decode()
    assert "No key matches these filters." in html and "Clear filters" in html
