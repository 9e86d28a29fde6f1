"""Sign-in throttling (django-axes, docs/security.md): 20 wrong passwords from one address lock
that username at that address out of both sign-in pages, before any password is hashed, for
the cool-off; other addresses, other people and keyed API requests are untouched."""
import subprocess
import sys
from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth.hashers import MD5PasswordHasher
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tests.clients import key_client
from tests.factories import PASSWORD, UserFactory
from tests.live import ROOT

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.66"
ELSEWHERE = "198.51.100.7"
PAGES = ["/accounts/login/", "/admin/login/"]


def sign_in(page: str, username: str, password: str, address: str = ATTACKER, **headers):
    return Client(REMOTE_ADDR=address, **headers).post(page, {"username": username, "password": password})


def hammer(page: str, username: str, times: int = 20, address: str = ATTACKER, **headers):
    """`times` wrong passwords; the answers' status codes."""
    return [sign_in(page, username, f"wrong {n}", address, **headers).status_code for n in range(times)]


def assert_locked(response, username: str):
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    text = response.content.decode()
    assert "Sign-in paused" in text and f"Too many wrong passwords for “{username}”" in text
    assert "administrator can also unlock" in text
    assert "_auth_user_id" not in response.client.session


@pytest.mark.parametrize("hammered", PAGES)
def test_twenty_wrong_passwords_lock_that_user_and_address_out_of_both_sign_in_pages(hammered, admin):
    assert hammer(hammered, "adam") == [200] * 19 + [429]
    for page in PAGES:
        assert_locked(sign_in(page, "adam", PASSWORD), "adam")
    with time_machine.travel(timezone.now() + timedelta(minutes=14, seconds=50)):
        assert_locked(sign_in(hammered, "adam", PASSWORD), "adam")


def test_the_page_says_when_to_try_again(admin):
    with time_machine.travel("2026-11-30 14:02:10Z", tick=False):
        hammer("/accounts/login/", "adam")
        response = sign_in("/accounts/login/", "adam", PASSWORD)
    assert_locked(response, "adam")
    assert response["Retry-After"] == str(15 * 60)
    assert "paused until 14:17 UTC" in response.content.decode()


@pytest.mark.parametrize("page", PAGES)
def test_another_address_and_another_person_still_sign_in(page, admin, owner):
    hammer(page, "adam")
    assert sign_in(page, "adam", PASSWORD, address=ELSEWHERE).status_code == 302
    assert sign_in(page, "olivia", PASSWORD).status_code == 302  # same address, another person


def test_after_the_cool_off_the_right_password_works_again(admin):
    hammer("/accounts/login/", "adam")
    with time_machine.travel(timezone.now() + timedelta(minutes=15, seconds=1)):
        for page in PAGES:
            response = sign_in(page, "adam", PASSWORD)
            assert response.status_code == 302 and response.client.session["_auth_user_id"] == str(admin.pk)


def test_the_failure_limit_and_cool_off_come_from_settings(settings, admin):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=1)
    assert hammer("/accounts/login/", "adam", times=3) == [200, 200, 429]
    with time_machine.travel(timezone.now() + timedelta(seconds=61)):
        assert sign_in("/admin/login/", "adam", PASSWORD).status_code == 302


def test_the_environment_sets_the_limit_and_the_cool_off():
    code = ("import django; django.setup(); from django.conf import settings as s; "
            "print(s.AXES_FAILURE_LIMIT, s.AXES_COOLOFF_TIME.total_seconds())")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings.test",
                                 "AXES_FAILURE_LIMIT": "5", "AXES_COOLOFF_MINUTES": "2.5"})
    assert result.stdout.split() == ["5", "150.0"], result.stderr


def test_a_success_starts_the_count_again(admin):
    hammer("/accounts/login/", "adam", times=19)
    assert sign_in("/accounts/login/", "adam", PASSWORD).status_code == 302
    assert hammer("/accounts/login/", "adam", times=19) == [200] * 19


def test_behind_a_proxy_the_address_is_the_one_the_proxy_saw(settings, admin):
    """core.network.client_ip decides, as everywhere else: entries a client writes to the left
    of X-Forwarded-For change nothing, so forging them does not escape the lockout."""
    settings.TRUSTED_PROXY_COUNT = 1
    codes = [sign_in("/accounts/login/", "adam", "wrong", address="10.0.0.2",
                     HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, {ATTACKER}").status_code for n in range(20)]
    assert codes == [200] * 19 + [429]
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {ATTACKER}
    assert sign_in("/admin/login/", "adam", PASSWORD, address="10.0.0.2",
                   HTTP_X_FORWARDED_FOR=f"{ELSEWHERE}, {ATTACKER}").status_code == 429
    assert sign_in("/admin/login/", "adam", PASSWORD, address="10.0.0.2",
                   HTTP_X_FORWARDED_FOR=ELSEWHERE).status_code == 302


class CountingHasher(MD5PasswordHasher):
    """MD5 (the test settings' hasher) that counts its work: a stand-in for Argon2's ~0.4 s."""

    runs = 0
    verifying = False

    def verify(self, password, encoded):
        CountingHasher.runs += 1
        self.verifying = True  # MD5's verify encodes: that is the same run
        try:
            return super().verify(password, encoded)
        finally:
            self.verifying = False

    def encode(self, password, salt):
        CountingHasher.runs += not self.verifying
        return super().encode(password, salt)


@pytest.mark.parametrize("username", ["adam", "nobody-by-that-name"])
def test_a_locked_out_attempt_runs_no_password_hasher(settings, admin, username):
    """The point of the lockout: once locked, an attacker's guesses cost the server no hashing."""
    settings.PASSWORD_HASHERS = ["tests.accounts.test_throttling.CountingHasher"]
    CountingHasher.runs = 0
    hammer("/accounts/login/", username, times=19)
    assert CountingHasher.runs == 19  # one hash per guess (Django hashes even for unknown users)
    CountingHasher.runs = 0
    hammer("/accounts/login/", username, times=1)
    assert CountingHasher.runs == 1  # the 20th guess is checked, then locks
    CountingHasher.runs = 0
    assert hammer("/accounts/login/", username, times=50) == [429] * 50
    assert hammer("/admin/login/", username, times=50) == [429] * 50
    assert sign_in("/accounts/login/", username, PASSWORD).status_code == 429
    assert CountingHasher.runs == 0


@pytest.mark.parametrize("page", PAGES)
def test_a_locked_out_attempt_is_refused_before_the_session_and_the_form(page, admin, django_assert_max_num_queries):
    """A refused guess must cost less than a page view, or a flood of them slows everyone: it is
    answered from the lockout alone, without a CSRF token, a session or the sign-in form."""
    hammer(page, "adam")
    client = Client(REMOTE_ADDR=ATTACKER, enforce_csrf_checks=True)
    with django_assert_max_num_queries(2):  # is it locked; when does it end
        response = client.post(page, {"username": "adam", "password": "guess"})
    assert_locked(response, "adam")
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies
    # Another username from the same address still meets CSRF protection and the form.
    assert client.post(page, {"username": "eve", "password": "guess"}).status_code == 403


def test_attempts_during_the_lockout_write_nothing(admin):
    hammer("/accounts/login/", "adam")
    before = list(AccessAttempt.objects.values())
    hammer("/accounts/login/", "adam", times=30)
    assert list(AccessAttempt.objects.values()) == before


@pytest.mark.parametrize("unlock", ["command", "admin"])
def test_an_admin_unlocks(unlock, admin):
    hammer("/accounts/login/", "adam")
    if unlock == "command":
        call_command("axes_reset_username", "adam")
    else:
        superuser = UserFactory(username="root", is_superuser=True, is_staff=True)
        client = Client()
        client.force_login(superuser)
        listing = client.get("/admin/axes/accessattempt/")
        assert listing.status_code == 200 and ATTACKER in listing.content.decode()
        response = client.post("/admin/axes/accessattempt/", {
            "action": "unlock", "_selected_action": list(AccessAttempt.objects.values_list("pk", flat=True))},
            follow=True)
        assert f"Unlocked adam at {ATTACKER}: they may sign in again." in response.content.decode()
    assert not AccessAttempt.objects.exists()
    assert sign_in("/accounts/login/", "adam", PASSWORD).status_code == 302


def test_company_admins_do_not_see_the_lockouts_of_the_installation(admin):
    """The rows name people and addresses of every company."""
    hammer("/accounts/login/", "adam", times=3)
    client = Client()
    client.force_login(admin)
    assert "Access attempts" not in client.get("/admin/").content.decode()
    assert client.get("/admin/axes/accessattempt/").status_code == 403


def test_keyed_api_requests_never_reach_the_lockout(alice, alice_key):
    """Keys are not passwords: a locked-out person's key still works from the same address, and
    a flood of wrong keys is answered by the API alone, counted nowhere in axes."""
    hammer("/accounts/login/", "alice", address="127.0.0.1")
    assert AccessAttempt.objects.count() == 1
    client = key_client(alice_key[1])
    assert client.get("/api/v1/me").status_code == 200
    wrong = key_client("sk_live_" + "A" * 38)
    assert {wrong.get("/api/v1/me").status_code for _ in range(30)} == {401}
    assert list(AccessAttempt.objects.values_list("username", "failures_since_start")) == [("alice", 20)]
