import io

import pytest
from django.core.management import CommandError, call_command

from accounts.models import Partner, User
from audit.models import Event


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.fixture
def piped_password(monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("a long passphrase for tests\n"))


def test_add_partner_then_its_admin(db, piped_password):
    assert "slug acme" in run("add_partner", "Acme Research", "--slug", "acme")
    output = run("add_user", "acme-admin", "--role", "partner-admin", "--partner", "acme", "--password-stdin")
    assert "Partner admin acme-admin added to Acme Research" in output
    user = User.objects.get(username="acme-admin")
    assert user.check_password("a long passphrase for tests")
    assert Event.objects.filter(action="user.created", partner="acme", actor_label="manage.py add_user").exists()


def test_the_first_officer_creates_the_host_organisation(db, piped_password):
    run("add_user", "olivia", "--role", "officer", "--password-stdin")
    assert User.objects.get(username="olivia").is_officer


def test_a_partner_role_without_a_partner_says_what_to_add(db):
    with pytest.raises(CommandError, match="add --partner SLUG"):
        run("add_user", "x", "--role", "principal")


def test_an_unknown_partner_says_how_to_add_it(db):
    with pytest.raises(CommandError, match=r"python manage\.py add_partner"):
        run("add_user", "x", "--role", "principal", "--partner", "nope")


def test_a_weak_password_is_refused_and_nothing_is_added(db, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    with pytest.raises(CommandError, match="Password refused"):
        run("add_user", "olivia", "--role", "officer", "--password-stdin")
    assert not User.objects.filter(username="olivia").exists()


def test_a_duplicate_partner_is_a_clear_error(db):
    run("add_partner", "Acme Research", "--slug", "acme")
    with pytest.raises(CommandError, match="slug"):
        run("add_partner", "Acme Two", "--slug", "acme")
    assert Partner.objects.count() == 1
