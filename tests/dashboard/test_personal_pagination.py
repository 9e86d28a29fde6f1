"""The personal key list comes in pages of 50, like the company view: a person with thousands
of keys gets a page of bounded size, not every key at once."""
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from keys.models import ApiKey
from keys.services import api_key_revoke
from tests.dashboard.conftest import COMPANY_URL, LIST_URL, NEW_URL, signed_in
from tests.factories import make_key
from tests.html import select, select_one, text, texts

pytestmark = pytest.mark.django_db
KEYS = 120
PAGE = 50


def names(html: str) -> list[str]:
    return texts(html, "a.key-name[href]")


def listed(html: str) -> list[str]:
    """The names in the main table, without the folded revoked ones."""
    return [text(name) for name in select(html, "a.key-name[href]") if not name.find_parent("details", "revoked")]


@pytest.fixture
def many(alice):
    """KEYS active keys of alice's, key-000 the oldest, so the newest come first."""
    with override_settings(API_KEYS_PER_USER=KEYS):
        for n in range(KEYS):
            make_key(alice, name=f"key-{n:03}")


def test_pages_of_fifty_newest_first_with_no_key_twice(alice, many):
    client = signed_in(alice)
    pages = [listed(client.get(LIST_URL, {"page": number}).content.decode()) for number in (1, 2, 3)]
    assert [len(page) for page in pages] == [PAGE, PAGE, KEYS - 2 * PAGE]
    assert pages[0][0] == "key-119" and pages[1][0] == "key-069" and pages[2][-1] == "key-000"
    everything = [name for page in pages for name in page]
    assert len(set(everything)) == KEYS == len(everything)


def test_the_first_page_is_the_default_and_links_to_the_next(alice, many):
    html = signed_in(alice).get(LIST_URL).content.decode()
    assert listed(html)[0] == "key-119" and len(listed(html)) == PAGE
    assert f"Keys 1–50 of {KEYS} · page 1 of 3" in html
    assert f'href="{LIST_URL}?page=2" rel="next"' in html and 'rel="prev"' not in html


def test_page_links_keep_the_rest_of_the_query(alice, many):
    html = signed_in(alice).get(LIST_URL, {"page": 2, "sort": "x"}).content.decode()
    assert f'href="{LIST_URL}?sort=x&amp;page=1" rel="prev"' in html
    assert f'href="{LIST_URL}?sort=x&amp;page=3" rel="next"' in html


# As on the company view (Paginator.get_page): not a number, the first page; out of range, the last.
@pytest.mark.parametrize("page, first", [("x", "key-119"), ("", "key-119"), ("2.5", "key-119"),
                                         ("99", "key-019"), ("9" * 30, "key-019"), ("0", "key-019"), ("-1", "key-019")])
def test_a_bad_page_falls_back_to_the_first_or_the_last(alice, many, page, first):
    response = signed_in(alice).get(LIST_URL, {"page": page})
    assert response.status_code == 200
    assert listed(response.content.decode())[0] == first


def test_the_page_size_does_not_grow_with_the_number_of_keys(alice):
    client = signed_in(alice)
    with override_settings(API_KEYS_PER_USER=KEYS):
        for n in range(60):
            make_key(alice, name=f"key-{n:03}")
        sixty = len(client.get(LIST_URL).content)
        for n in range(60, KEYS):
            make_key(alice, name=f"key-{n:03}")
    hundred_and_twenty = len(client.get(LIST_URL).content)
    assert hundred_and_twenty < sixty * 1.02
    assert hundred_and_twenty < 200_000


def test_only_the_latest_twenty_revoked_keys_are_folded_under_the_list(alice):
    for n in range(23):
        api_key_revoke(api_key=make_key(alice, name=f"old-{n:02}")[0])
    make_key(alice, name="current")
    html = signed_in(alice).get(LIST_URL).content.decode()
    assert listed(html) == ["current"]
    folded = html.split("<summary>Show revoked (23)</summary>")[1]
    assert len(names(folded)) == 20 and "old-22" in folded and "old-02" not in folded
    assert "The latest 20 of 23." in folded and f'<a href="{LIST_URL}?status=revoked">Every revoked key</a>' in folded
    every = signed_in(alice).get(LIST_URL, {"status": "revoked"}).content.decode()
    assert len(listed(every)) == 23 and "current" not in listed(every)


def test_a_new_key_is_shown_on_the_first_page_and_its_links_lead_to_the_list(alice, many):
    """The page that shows a new key answers the POST to new/: its page links must not lead
    back there."""
    with override_settings(API_KEYS_PER_USER=KEYS + 1):
        response = signed_in(alice).post(NEW_URL, {"name": "brand new", "never_expires": "on", "mode": "live"})
    html = response.content.decode()
    assert response.status_code == 200 and listed(html)[0] == "brand new" and len(listed(html)) == PAGE
    assert f'href="{LIST_URL}?page=2" rel="next"' in html
    assert ApiKey.objects.filter(owner=alice).count() == KEYS + 1


@pytest.mark.parametrize("who, url, every_one", [
    ("alice", LIST_URL, f'<a href="{LIST_URL}?status=unused">Every unused key</a>'),
    ("admin", COMPANY_URL, f'<a href="{COMPANY_URL}?status=unused">Every unused key</a>'),
])
def test_old_unused_keys_are_listed_twenty_at_most(request, alice, who, url, every_one):
    """Keys a script made long ago and never used are all candidates to revoke: the section
    that lists them is bounded too, or the page grows with them."""
    for n in range(30):
        make_key(alice, name=f"idle-{n:02}")
    ApiKey.objects.update(created_at=timezone.now() - timedelta(days=200))
    html = signed_in(request.getfixturevalue(who)).get(url).content.decode()
    section = select_one(html, "#unused")
    assert len(section.select("tr[data-key-id]")) == 20
    assert "The newest 20 of 30." in text(section) and every_one in str(section)
