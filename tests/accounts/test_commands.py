import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts.models import Company, Membership
from keys.models import ApiKey
from tests.clients import key_client

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db
User = get_user_model()
PASSWORD = "a sturdy demo passphrase"


def run(*args, **kwargs):
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


def test_addmember_creates_company_and_user_with_the_password_from_the_environment(monkeypatch):
    monkeypatch.setenv("KEYHOUSE_PASSWORD", PASSWORD)
    out, _ = run("addmember", "carol", "--company", "Initech", "--role", "admin", "--email", "c@example.com")
    carol = User.objects.get(username="carol")
    assert carol.check_password(PASSWORD) and carol.email == "c@example.com"
    assert Membership.objects.get(user=carol).role == "admin"
    assert "carol is admin of Initech" in out and PASSWORD not in out


def test_addmember_again_changes_the_role_and_keeps_the_password(monkeypatch):
    monkeypatch.setenv("KEYHOUSE_PASSWORD", PASSWORD)
    run("addmember", "carol", "--company", "Initech", "--role", "member")
    monkeypatch.setenv("KEYHOUSE_PASSWORD", "something else entirely")
    run("addmember", "carol", "--company", "Initech", "--role", "owner")
    assert Membership.objects.get().role == "owner"
    assert User.objects.get().check_password(PASSWORD)


def test_addmember_without_password_or_terminal_fails_and_creates_no_user(monkeypatch):
    monkeypatch.delenv("KEYHOUSE_PASSWORD", raising=False)
    monkeypatch.setattr("os.isatty", lambda fd: False)
    with pytest.raises(CommandError, match="KEYHOUSE_PASSWORD"):
        run("addmember", "dave", "--company", "Initech", "--role", "member")
    assert not User.objects.filter(username="dave").exists()


def test_addmember_refuses_a_weak_password(monkeypatch):
    monkeypatch.setenv("KEYHOUSE_PASSWORD", "123")
    with pytest.raises(CommandError, match="too weak"):
        run("addmember", "erin", "--company", "Initech", "--role", "member")
    assert not User.objects.filter(username="erin").exists()


def test_issuekey_prints_only_the_key_on_stdout(alice):
    out, err = run("issuekey", "alice", "--name", "Data Pipeline", "--mode", "test", "--expires", "30d")
    raw = out.strip()
    assert out == raw + "\n" and raw.startswith("sk_test_")
    key = ApiKey.objects.get()
    assert key.name == "Data Pipeline" and key.expires_at is not None
    assert str(key.pk) in err and raw not in err
    assert key_client(raw).get("/api/v1/me").status_code == 200


@pytest.mark.parametrize("expires, iso", [
    ("2099-01-31", "2099-01-31T00:00:00+00:00"),
    ("2099-01-31T12:00:00+01:00", "2099-01-31T11:00:00+00:00"),
])
def test_issuekey_expiry_forms(expires, iso, alice):
    run("issuekey", "alice", "--name", "x", "--expires", expires)
    assert ApiKey.objects.get().expires_at.isoformat() == iso


@pytest.mark.parametrize("args, message", [
    (["nobody", "--name", "x"], "No user"),
    (["alice", "--name", "x", "--company", "Globex"], "not a member"),
    (["alice", "--name", "x", "--expires", "2001-01-01"], "future"),
    (["alice", "--name", "   "], "name"),
])
def test_issuekey_errors_are_clear_and_create_nothing(args, message, alice, other_company):
    with pytest.raises(CommandError, match=message):
        run("issuekey", *args)
    assert ApiKey.objects.count() == 0


def test_seed_demo_is_idempotent_and_prints_a_working_password(settings, tmp_path):
    settings.BASE_DIR = tmp_path
    first, _ = run("seed_demo")
    second, _ = run("seed_demo")
    assert first == second
    password = first.split("password '")[1].split("'")[0]
    demo = User.objects.get(username="demo")
    assert demo.check_password(password)
    assert Membership.objects.get(user=demo).role == "owner"
    assert Company.objects.filter(name="Acme").count() == 1


BAD_ARGUMENTS = [
    (["notify_expiring_keys", "--within", "7 days"], "argument --within: takes a number of days such as 7d"),
    (["prune_usage", "--older-than", "٩٠d"], "argument --older-than: takes a number of days such as 90d"),
    (["prune_usage", "--older-than", "123456d"], "argument --older-than: takes a number of days such as 90d"),
    (["prune_usage", "--older-than", "90"], "argument --older-than: takes a number of days such as 90d"),
    (["prune_usage", "--older-than", "90d", "--batch-size", "٣٠٠٠٠"], "argument --batch-size: takes a whole number"),
    (["requeue_abandoned_tasks", "--older-than", "1_5"], "argument --older-than: takes a whole number"),
    (["scan_for_keys", ".", "--legacy-pattern", "(oldsys"], "argument --legacy-pattern: is not a regular expression"),
    (["issuekey", "--user", "nobody", "--expires", "tomorrow"], "argument --expires: takes 30d, 2027-01-31"),
]


@pytest.mark.parametrize("args, expected", BAD_ARGUMENTS)
def test_commands_read_arguments_one_way_and_say_what_they_expected(args, expected):
    with pytest.raises(CommandError, match=expected):
        call_command(*args)


@pytest.mark.parametrize("args, expected", BAD_ARGUMENTS[3:])
def test_a_bad_argument_on_the_command_line_is_a_usage_line_not_a_traceback(args, expected):
    """From a shell, argparse's own error: the usage, one line saying what was expected, exit 2."""
    done = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("usage: manage.py") and expected in done.stderr
    assert "Traceback" not in done.stderr


def test_forgetting_the_keys_of_a_user_who_does_not_exist_says_so(alice_key):
    with pytest.raises(CommandError, match="No user is named 'alcie'"):
        call_command("forget_cached_keys", "--user", "alcie", stdout=StringIO(), stderr=StringIO())
    out = StringIO()
    call_command("forget_cached_keys", "--user", "alice", stdout=out, stderr=StringIO())
    assert "Forgot the cached snapshots of 1 key values" in out.getvalue()
