"""One create form makes one key, decided by the database (ApiKey.creation_token is unique):
a second post of the same form, even racing the first or from another session, finds the key
the first made; a form whose key was not made is never refused, however many were rendered since."""
import re

import pytest

from accounts.access import Actor
from accounts.models import Role
from keys.limit_services import api_key_issue_once
from keys.models import ApiKey
from tests.concurrency import one_while_the_other_is_open
from tests.dashboard.conftest import LIST_URL, NEW_URL, signed_in

TOKEN_RE = re.compile(r'name="form_token" value="([^"]+)"')


def form_for(client, name: str) -> dict:
    token = TOKEN_RE.search(client.get(LIST_URL).content.decode()).group(1)
    return {"name": name, "never_expires": "on", "mode": "live", "form_token": token}


@pytest.mark.django_db
def test_a_form_opened_before_21_renders_in_another_session_makes_its_key(alice):
    first_tab, other_browser = signed_in(alice), signed_in(alice)
    form = form_for(first_tab, "First tab")
    for _ in range(21):
        assert other_browser.get(LIST_URL).status_code == 200
    assert first_tab.post(NEW_URL, form).status_code == 200
    # The same form sent from the other session (a copied request, a second browser) finds it.
    again = other_browser.post(NEW_URL, form)
    assert again.status_code == 409 and "Already created" in again.content.decode()
    assert ApiKey.objects.filter(owner=alice).count() == 1


@pytest.mark.django_db
def test_every_form_rendered_makes_its_own_key_in_any_order(alice):
    client = signed_in(alice)
    forms = [form_for(client, f"Form {number}") for number in range(25)]
    for form in reversed(forms):
        assert client.post(NEW_URL, form).status_code == 200
    assert ApiKey.objects.filter(owner=alice).count() == 25


@pytest.mark.django_db(transaction=True)
def test_two_posts_of_one_form_at_once_make_one_key(company, alice):
    """The second post runs while the first's transaction is open, so its check finds no key:
    the unique column refuses its insert, and it answers with the key the first one made."""
    actor = Actor(user=alice, company=company, role=Role.MEMBER)
    outcomes = {}

    def issue(name):
        key, raw = api_key_issue_once(creation_token="nonce-of-one-form", grantor=actor, company=company,
                                      owner=alice, name=name)
        outcomes[name] = (key.pk, raw is not None)

    assert one_while_the_other_is_open(lambda: issue("first"), lambda: issue("second")) == ("done", "done")
    [made] = ApiKey.objects.filter(owner=alice)
    assert made.name == "first" and made.creation_token == "nonce-of-one-form"
    assert outcomes == {"first": (made.pk, True), "second": (made.pk, False)}
