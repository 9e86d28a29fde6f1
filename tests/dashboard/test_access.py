"""Every role against every key page and action, and CSRF on every form. The rule itself is
accounts.access.key_check_manage; these tests show the dashboard applies it everywhere."""
import uuid

import pytest
from django.test import Client

from keys.models import ApiKey
from tests.dashboard.conftest import COMPANY_URL, LIST_URL, NEW_URL, key_url, signed_in
from tests.html import select

pytestmark = pytest.mark.django_db

# (method, action, data, status when allowed)
ACTIONS = [
    ("get", "", {}, 200),
    ("get", "rename", {}, 200),
    ("post", "rename", {"name": "Renamed"}, 302),
    ("get", "revoke", {}, 200),
    ("post", "revoke", {}, 302),
    ("get", "regenerate", {}, 200),
    ("post", "regenerate", {}, 200),
]
# Who acts on alice's key, and what they get when the action is not theirs to take.
ROLES = [("alice", None), ("owner", None), ("admin", None), ("bob", 403), ("outsider_admin", 404)]


def state(key) -> tuple:
    return ApiKey.objects.filter(pk=key.pk).values_list("name", "key_hash", "revoked_at").get()


@pytest.mark.parametrize(("method", "action", "data", "allowed_status"), ACTIONS)
@pytest.mark.parametrize(("role", "refused_status"), ROLES)
def test_roles_by_key_action(request, alice_key, role, refused_status, method, action, data, allowed_status):
    key, _ = alice_key
    before = state(key)
    response = getattr(signed_in(request.getfixturevalue(role)), method)(key_url(key, action), data)
    if refused_status is None:
        assert response.status_code == allowed_status
        assert (state(key) != before) == (method == "post")
    else:
        assert response.status_code == refused_status
        html = response.content.decode()
        expected = (
            "Only the key&#x27;s owner or a company admin"
            if refused_status == 403
            else "No API key with this id in your company."
        )
        assert expected in html
        assert state(key) == before


@pytest.mark.parametrize(("method", "action", "data", "allowed_status"), ACTIONS)
def test_an_unknown_key_id_is_404(alice, method, action, data, allowed_status):
    response = getattr(signed_in(alice), method)(key_url(ApiKey(pk=uuid.uuid4()), action), data)
    assert response.status_code == 404


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("alice", 403)])
def test_company_view_is_for_admins_and_owners(request, alice_key, bob_key, role, status):
    response = signed_in(request.getfixturevalue(role)).get(COMPANY_URL)
    assert response.status_code == status
    html = response.content.decode()
    if status == 200:
        assert "Alice&#x27;s laptop" in html and "Bob&#x27;s pipeline" in html
        assert '<th scope="col">Owner</th>' in html
    else:
        assert "Only company admins and owners see every key" in html
        assert "Bob&#x27;s pipeline" not in html


def test_company_view_never_shows_another_companys_keys(admin, alice_key, outsider_admin):
    from tests.factories import make_key

    make_key(outsider_admin, name="Globex secret project")
    html = signed_in(admin).get(COMPANY_URL).content.decode()
    assert "Globex secret project" not in html and "Alice&#x27;s laptop" in html


@pytest.fixture
def csrf_client(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    return client


@pytest.mark.parametrize(
    ("action", "data"),
    [("rename", {"name": "Hijacked"}), ("revoke", {}), ("regenerate", {})],
)
def test_key_forms_without_csrf_token_are_refused(csrf_client, alice_key, action, data):
    key, _ = alice_key
    before = state(key)
    response = csrf_client.post(key_url(key, action), data)
    assert response.status_code == 403
    assert "That form could not be sent" in response.content.decode()
    assert state(key) == before


def test_create_and_switch_without_csrf_token_are_refused(csrf_client, alice):
    assert csrf_client.post(NEW_URL, {"name": "X", "never_expires": "on", "mode": "live"}).status_code == 403
    assert csrf_client.post("/settings/company/", {"company": alice.memberships.get().company_id}).status_code == 403
    assert not ApiKey.objects.exists()
    assert "company_id" not in csrf_client.session


@pytest.mark.parametrize("action", ["", "rename", "revoke", "regenerate"])
def test_every_post_form_carries_a_csrf_token(csrf_client, alice_key, action):
    key, _ = alice_key
    pages = {
        "": LIST_URL,
        "rename": key_url(key, "rename"),
        "revoke": key_url(key, "revoke"),
        "regenerate": key_url(key, "regenerate"),
    }
    html = csrf_client.get(pages[action]).content.decode()
    forms = select(html, 'form[method="post"]')
    assert len(forms) >= 2  # sign out, and the page's own
    assert all(form.select_one('input[name="csrfmiddlewaretoken"]') for form in forms)


def test_a_form_with_its_token_goes_through(csrf_client, alice_key):
    key, _ = alice_key
    page = csrf_client.get(key_url(key, "revoke"))
    token = page.context["csrf_token"]
    response = csrf_client.post(key_url(key, "revoke"), {"csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
