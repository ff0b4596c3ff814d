import pytest
from django.core.exceptions import ValidationError

from accounts.roles import Role
from accounts.services import user_create
from tests.conftest import SETUP
from tests.helpers import sign_in


def test_each_role_is_a_group_with_its_permissions(officer, auditor, a_admin, a_principal):
    assert officer.has_perm("charters.add_asset") and officer.has_perm("audit.view_event")
    assert auditor.has_perm("audit.view_event") and not auditor.has_perm("charters.add_asset")
    assert a_admin.has_perm("charters.view_asset") and not a_admin.has_perm("charters.add_asset")
    assert not a_principal.has_perm("charters.view_asset")


def test_a_partner_cannot_have_an_officer(partner_a):
    with pytest.raises(ValidationError, match="partner admins or principals"):
        user_create(username="mallory", organisation=partner_a, role=Role.OFFICER, by=SETUP)


def test_the_host_cannot_have_a_partner_principal(host):
    with pytest.raises(ValidationError, match="officers or auditors"):
        user_create(username="gw", organisation=host, role=Role.PARTNER_PRINCIPAL, by=SETUP)


def test_a_principal_is_a_service_identity_without_a_password(a_principal):
    assert a_principal.is_service
    assert not a_principal.has_usable_password()


def test_officers_see_the_beat_schedules_in_the_admin_but_cannot_change_them(client, officer):
    sign_in(client, officer)
    assert client.get("/admin/django_celery_beat/periodictask/").status_code == 200
    assert client.get("/admin/django_celery_beat/periodictask/add/").status_code == 403
    assert client.get("/admin/auth/group/").status_code == 403


def test_partner_admins_cannot_open_the_admin(client, a_admin):
    sign_in(client, a_admin)
    assert client.get("/admin/").status_code == 302
