"""Pages offer regenerate and restrictions only where the grant rule allows them (keys.grants):
an admin sees them on members' keys, not on an owner's; the POST is refused all the same."""
import pytest
from django.test import Client

from keys.models import ApiKey
from tests.factories import make_key

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def regenerate_link(key) -> str:
    return f"/settings/advanced/api-keys/{key.pk}/regenerate/"


def test_the_company_page_offers_an_admin_regenerate_for_members_only(owner, admin, alice):
    owner_key, _ = make_key(owner, name="Owner's")
    member_key, _ = make_key(alice, name="Alice's")
    page = signed_in(admin).get("/settings/advanced/api-keys/company/").content.decode()
    assert regenerate_link(member_key) in page and regenerate_link(owner_key) not in page
    page = signed_in(owner).get("/settings/advanced/api-keys/company/").content.decode()
    assert regenerate_link(member_key) in page and regenerate_link(owner_key) in page


def test_an_admin_sees_an_owners_key_without_the_controls_and_cannot_post_them(owner, admin):
    owner_key, _ = make_key(owner, name="Owner's")
    client = signed_in(admin)
    page = client.get(f"/settings/advanced/api-keys/{owner_key.pk}/").content.decode()
    assert regenerate_link(owner_key) not in page and 'class="stack restrictions-form"' not in page
    assert "Only company owners change the restrictions" in page
    before = ApiKey.objects.values_list("key_hash", "allowed_ips").get(pk=owner_key.pk)
    assert client.post(regenerate_link(owner_key), {"grace_period_seconds": "0"}).status_code == 403
    restrictions = client.post(f"/settings/advanced/api-keys/{owner_key.pk}/restrictions/",
                               {"allowed_ips": "203.0.113.7", "allowed_referrers": "", "scopes": ["all"]})
    assert restrictions.status_code == 403
    assert ApiKey.objects.values_list("key_hash", "allowed_ips").get(pk=owner_key.pk) == before
