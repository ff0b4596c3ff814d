from audit.models import Event
from governance.models import PartnerRole


def test_a_partner_admin_creates_a_role_and_adds_a_principal(api_as, a_admin, a_principal):
    client = api_as(a_admin).client
    created = client.post("/api/v1/roles/create", {"slug": "eval-jobs", "title": "Evaluation jobs"}, format="json")
    assert created.status_code == 201, created.json()
    added = client.post("/api/v1/roles/eval-jobs/members", {"principal": "northwind-gateway"}, format="json")
    assert added.status_code == 200 and added.json()["members"] == ["northwind-gateway"]
    assert PartnerRole.objects.get().members.get() == a_principal
    assert list(Event.objects.filter(action__startswith="partner_role.").values_list("action", flat=True)) == [
        "partner_role.created",
        "partner_role.member_added",
    ]


def test_removing_a_member_is_recorded_and_takes_effect_on_decisions(api_as, a_admin, a_principal, make_grant, atlas):
    client = api_as(a_admin).client
    client.post("/api/v1/roles/create", {"slug": "eval-jobs"}, format="json")
    client.post("/api/v1/roles/eval-jobs/members", {"principal": "northwind-gateway"}, format="json")
    make_grant(principal=None, partner_role=PartnerRole.objects.get())
    gateway = api_as(a_principal).client
    request = {"action": "infer", "asset": atlas, "purpose": "benchmarking"}
    assert gateway.post("/api/v1/decisions", request, format="json").json()["allow"] is True
    client.post("/api/v1/roles/eval-jobs/members", {"principal": "northwind-gateway", "remove": True}, format="json")
    assert gateway.post("/api/v1/decisions", request, format="json").json()["allow"] is False
    assert Event.objects.filter(action="partner_role.member_removed").exists()


def test_another_partners_principal_cannot_join_a_role(api_as, a_admin, b_principal):
    client = api_as(a_admin).client
    client.post("/api/v1/roles/create", {"slug": "eval-jobs"}, format="json")
    response = client.post("/api/v1/roles/eval-jobs/members", {"principal": "helix-gateway"}, format="json")
    assert response.status_code == 400 and "not one of your principals" in response.json()["error"]["message"]
    assert not PartnerRole.objects.get().members.exists()


def test_another_partners_admin_gets_404_on_a_role(api_as, a_admin, b_admin):
    api_as(a_admin).client.post("/api/v1/roles/create", {"slug": "eval-jobs"}, format="json")
    response = api_as(b_admin).client.post("/api/v1/roles/eval-jobs/members", {"principal": "x"}, format="json")
    assert response.status_code == 404
    assert api_as(b_admin).client.get("/api/v1/roles").json()["results"] == []


def test_a_duplicate_role_is_a_clear_400(api_as, a_admin):
    client = api_as(a_admin).client
    client.post("/api/v1/roles/create", {"slug": "eval-jobs"}, format="json")
    response = client.post("/api/v1/roles/create", {"slug": "eval-jobs"}, format="json")
    assert (
        response.status_code == 400 and "already has a role called 'eval-jobs'" in response.json()["error"]["message"]
    )


def test_principals_and_officers_do_not_manage_partner_roles(api_as, a_principal, officer):
    for user in (a_principal, officer):
        assert api_as(user).client.post("/api/v1/roles/create", {"slug": "x"}, format="json").status_code == 403
