"""Two data migrations, there and back: charters 0008 (the agreement's hash; older acceptances say they covered the
whole version) and accounts 0008 (token scopes from ``full`` and ``exit``)."""

from __future__ import annotations

from accounts.models import ApiToken
from accounts.services import actor_for, api_token_issue
from charters.models import CharterAcknowledgement, CharterVersion
from tests.conftest import committing
from tests.helpers import migrate_to, migrate_to_latest


@committing
def test_the_agreements_hash_is_worked_out_for_existing_versions_and_old_acceptances_keep_theirs(live_charter):
    ack = live_charter.acknowledgements.get()
    try:
        old = migrate_to(("charters", "0007_knowledge_transfer_optional"))
        old.get_model("charters", "CharterAcknowledgement").objects.update(content_hash=live_charter.content_hash)
        migrate_to(("charters", "0008_agreement_hash"))
        # The migration's frozen copy of the rule gives what the service gives today.
        assert CharterVersion.objects.get(pk=live_charter.pk).agreement_hash == live_charter.agreement_hash
        before = CharterAcknowledgement.objects.get(pk=ack.pk)
        assert (before.content_hash, before.covers) == (live_charter.content_hash, "version")
    finally:
        migrate_to_latest()


@committing
def test_tokens_become_their_owners_default_scopes_and_back(officer, a_admin, a_principal):
    tokens = {user.username: api_token_issue(user=user, name="t", by=actor_for(user))[0] for user in (officer, a_admin)}
    tokens[a_principal.username] = api_token_issue(user=a_principal, name="t", by=actor_for(a_admin))[0]
    narrowed = api_token_issue(user=a_admin, name="after the exit", by=actor_for(a_admin), scopes=["exit"])[0]
    try:
        old = migrate_to(("accounts", "0007_proposals"))
        assert set(old.get_model("accounts", "ApiToken").objects.values_list("scope", flat=True)) == {"full", "exit"}
        migrate_to(("accounts", "0008_token_scopes"))
        scopes = dict(ApiToken.objects.values_list("pk", "scopes"))
        assert scopes[tokens[officer.username].pk] == "manage read_audit"
        assert scopes[tokens[a_admin.username].pk] == "manage read_audit"
        assert scopes[tokens[a_principal.username].pk] == "decide"
        assert scopes[narrowed.pk] == "exit"
    finally:
        migrate_to_latest()
