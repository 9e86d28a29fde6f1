"""A key's name may not hide what it says: control, bidirectional and zero-width characters
are refused on every surface (API, dashboard, services), with the field named."""
import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from audit.models import AuditAction, AuditEvent
from keys.models import ApiKey
from keys.services import api_key_create
from tests.clients import key_client, session_client
from tests.dashboard.conftest import NEW_URL, key_url, signed_in
from tests.factories import make_key
from tests.migrations import migrate, migrate_to_latest

pytestmark = pytest.mark.django_db

HIDDEN = [
    ("abc\u202egnp.exe", "U+202E"),        # right-to-left override: shows as "abcexe.png"
    ("Pro\u200bduction", "U+200B"),        # zero-width space
    ("Deploy\u2066bot\u2069", "U+2066"),   # left-to-right isolate
    ("Line\u2028break", "U+2028"),          # line separator
    ("Tab\tseparated", "U+0009"),           # a control character
    ("Bell\x07", "U+0007"),
    ("Hangul\u3164filler", "U+3164"),      # a letter that draws nothing
    ("\u2800", "U+2800"),                   # the blank Braille pattern
]


def error_of(response) -> tuple[str, str]:
    """(code, the whole body as text): the one place that knows the error body's shape."""
    body = response.json()
    return body["code"], str(body)


@pytest.mark.parametrize(("name", "codepoint"), HIDDEN)
def test_the_api_refuses_a_new_key_with_a_hidden_character(alice, name, codepoint):
    response = session_client(alice).post(f"/api/v1/users/{alice.pk}/api-keys", {"name": name}, format="json")
    assert response.status_code == 400
    code, body = error_of(response)
    assert code == "validation_error"
    assert "name" in body and codepoint in body
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(("name", "codepoint"), HIDDEN[:2])
def test_the_api_refuses_a_rename_to_a_hidden_character(alice, name, codepoint):
    key, raw = make_key(alice, name="Plain")
    response = key_client(raw).patch(f"/api/v1/api-keys/{key.pk}", {"name": name}, format="json")
    assert response.status_code == 400
    assert codepoint in error_of(response)[1]
    key.refresh_from_db()
    assert key.name == "Plain"


@pytest.mark.parametrize(("name", "codepoint"), HIDDEN[:3])
def test_the_dashboard_says_which_character_and_makes_no_key(alice, name, codepoint):
    client = signed_in(alice)
    html = client.post(NEW_URL, {"name": name, "never_expires": "on", "mode": "live"}).content.decode()
    assert "cannot contain control, bidirectional or invisible characters" in html and codepoint in html
    assert not ApiKey.objects.exists()


def test_a_dashboard_rename_to_a_hidden_character_changes_nothing(alice):
    key, _ = make_key(alice, name="Plain")
    response = signed_in(alice).post(key_url(key, "rename"), {"name": "abc\u202egnp.exe"})
    assert response.status_code == 400 and "U+202E" in response.content.decode()
    key.refresh_from_db()
    assert key.name == "Plain"


@pytest.mark.parametrize("name", ["Café ☕ server", "Zürich – München", "日本のサーバー", "Data Pipeline (EU)"])
def test_visible_letters_and_symbols_of_any_script_are_welcome(alice, name):
    response = session_client(alice).post(f"/api/v1/users/{alice.pk}/api-keys", {"name": name}, format="json")
    assert response.status_code == 201
    assert ApiKey.objects.get().name == name


def test_the_service_refuses_it_for_every_other_caller(alice, company):
    """Commands and the admin reach the service without a serializer or a form in front."""
    with pytest.raises(ValidationError) as refused:
        api_key_create(company=company, owner=alice, name="abc\u202egnp.exe")
    assert list(refused.value.message_dict) == ["name"] and "U+202E" in refused.value.message_dict["name"][0]
    assert not ApiKey.objects.exists()


@pytest.mark.parametrize(("name", "says"), [
    ("\ufe0f", "needs a visible"), ("\u00a0\u00a0", "may not be blank"),
    ("prod sk_live_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789ab", "cannot contain an API key"),
    # cut by one character: the checksum it lost can be worked out again from the rest
    ("prod sk_live_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789a", "cannot contain an API key"),
    ("sk_test_AbCdE", "or a piece of one"),
])
def test_a_name_with_nothing_visible_or_with_a_key_in_it_is_refused(alice, name, says):
    """A key pasted as a name would be stored and shown wherever names are."""
    response = session_client(alice).post(f"/api/v1/users/{alice.pk}/api-keys", {"name": name}, format="json")
    assert response.status_code == 400
    code, body = error_of(response)
    assert code == "validation_error" and says in body and "sk_live_AbCd" not in body
    assert not ApiKey.objects.exists()


def test_emoji_with_a_variation_selector_stay_welcome(alice):
    response = session_client(alice).post(f"/api/v1/users/{alice.pk}/api-keys", {"name": "Prod \u2764\ufe0f"},
                                          format="json")
    assert response.status_code == 201 and response.json()["name"] == "Prod \u2764\ufe0f"


@pytest.mark.parametrize("cut", [lambda raw: raw[:-3], lambda raw: "prod" + raw[:-1], lambda raw: raw[:32]])
def test_a_rename_to_a_cut_key_changes_nothing_and_shows_none_of_it(alice, cut):
    """Cut short, alone or run into a word: whatever precedes a long piece, it is a key."""
    key, raw = make_key(alice, name="Plain")
    response = key_client(raw).patch(f"/api/v1/api-keys/{key.pk}", {"name": cut(raw)}, format="json")
    assert response.status_code == 400
    code, body = error_of(response)
    assert code == "validation_error" and "piece of one" in body and raw[:13] not in body
    key.refresh_from_db()
    assert key.name == "Plain"


@pytest.mark.parametrize("name", ["sk_live_ tokens", "Backend sk_live_Ab", "Sk_Live_Backend", "task_live_x",
                                  "task_test_runner", "disk_live_backups nightly", "Flask_test_suite"])
def test_names_that_only_mention_a_prefix_stay_welcome(alice, name):
    response = session_client(alice).post(f"/api/v1/users/{alice.pk}/api-keys", {"name": name}, format="json")
    assert response.status_code == 201 and response.json()["name"] == name


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_masks_pieces_of_keys_in_names_already_stored(alice):
    """Names stored before pieces of keys were refused are masked as the dashboard shows keys."""
    _, raw = make_key(alice, name="Plain")
    old = migrate([("keys", "0013_key_change_generation")]).get_model("keys", "ApiKey")
    membership = alice.memberships.get()
    common = {"company_id": membership.company_id, "owner_id": alice.pk}

    def key_named(name, n):
        return old.objects.create(name=name, prefix="sk_live_x", key_hash=f"h{n}", **common).pk

    cut, whole = key_named(f"prod {raw[:-1]}", 1), key_named(f"{raw} (old)", 2)
    plain, word = key_named("sk_ live", 3), key_named("task_test_runner", 4)
    try:
        migrate([("keys", "0014_mask_key_pieces_in_names")])
        names = dict(ApiKey.objects.filter(pk__in=[cut, whole, plain, word]).values_list("pk", "name"))
    finally:
        migrate_to_latest()
    shown = raw[:12] + "…"
    assert names == {cut: f"prod {shown}", whole: f"{shown} (old)", plain: "sk_ live", word: "task_test_runner"}


@pytest.mark.django_db(transaction=True)
def test_the_upgrade_forgets_the_cached_snapshots_of_the_names_it_masks(alice):
    """A key used just before the upgrade is answered from its cached snapshot, name included:
    the masked name shows on its next request, not once the snapshot expires (300 s)."""
    key, raw = make_key(alice, name="Plain")
    ApiKey.objects.filter(pk=key.pk).update(name=f"prod {raw[:-1]}")  # as stored before names refused it
    assert key_client(raw).get("/api/v1/me").json()["api_key"]["name"] == f"prod {raw[:-1]}"
    try:
        migrate([("keys", "0013_key_change_generation")])
        migrate([("keys", "0014_mask_key_pieces_in_names")])
    finally:
        migrate_to_latest()
    body = key_client(raw).get("/api/v1/me").content.decode()
    assert raw[:13] not in body and f"prod {raw[:12]}…" in body


def test_the_pages_that_refuse_a_cut_key_as_a_name_do_not_show_it_again(alice, admin):
    """The dashboard's forms and Django admin's re-render what was typed: masked."""
    key, raw = make_key(alice, name="Plain")
    cut = f"prod {raw[:-1]}"
    dashboard = signed_in(alice)
    staff = Client()
    admin.is_staff = True
    admin.save()
    staff.force_login(admin)
    pages = [
        dashboard.post(NEW_URL, {"name": cut, "never_expires": "on", "mode": "live"}),
        dashboard.post(key_url(key, "rename"), {"name": cut}),
        staff.post(f"/admin/keys/apikey/{key.pk}/change/", {"name": cut, "expires_at_0": "", "expires_at_1": "",
                                                             "scopes": ["all"]}),
    ]
    for page in pages:
        html = page.content.decode()
        assert "piece of one" in html and raw[:13] not in html and f"prod {raw[:12]}…" in html
    key.refresh_from_db()
    assert key.name == "Plain" and ApiKey.objects.count() == 1


def test_an_old_event_that_recorded_a_cut_key_in_a_name_shows_it_masked(alice, alice_key):
    """Events are append-only: one recorded before names refused pieces of keys is masked as read."""
    key, raw = alice_key
    AuditEvent.objects.create(company_id=key.company_id, action=AuditAction.KEY_RENAMED, surface="api",
                              actor_user=alice, api_key=key, api_key_label=f"prod {raw[:-1]} ({key.prefix}…)",
                              changes={"name": {"before": "Plain", "after": f"prod {raw[:-2]}"}})
    api = session_client(alice).get(f"/api/v1/audit-events?key={key.pk}").content.decode()
    page = signed_in(alice).get(key_url(key)).content.decode()
    for shown in (api, page):
        assert raw[:13] not in shown and f"prod {raw[:12]}…" in shown
    event = AuditEvent.objects.get(action=AuditAction.KEY_RENAMED)
    assert event.changes == {"name": {"before": "Plain", "after": f"prod {raw[:12]}…"}}
