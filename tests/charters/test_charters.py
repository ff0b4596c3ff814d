import io

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command

from accounts.services import actor_for
from audit.models import Event
from charters.documents import CharterDocumentError
from charters.models import Charter, CharterAcknowledgement, CharterVersion, ImmutableVersionError, IncidentPlaybook
from charters.services.charters import (
    charter_acknowledge,
    charter_amend,
    charter_apply,
    charter_expire,
    charter_resume,
    charter_suspend,
    charter_terminate,
    charter_version_approve,
    charter_version_return,
    charter_version_submit,
)
from governance.exits import services as exits
from governance.ops.demo import demo_fingerprint
from tests.conftest import SETUP
from tests.helpers import second_officer_confirming


def apply(text, author, **options):
    return charter_apply(text=text, by=actor_for(author), source="test.yaml", **options)


def refused(text, author, expected):
    """Applying ``text`` fails with ``expected`` in a problem, and nothing at all is written."""
    events = Event.objects.count()
    with pytest.raises(CharterDocumentError) as caught:
        apply(text, author)
    messages = [str(problem) for problem in caught.value.problems]
    assert any(expected in message for message in messages), messages
    assert not Charter.objects.exists() and not IncidentPlaybook.objects.exists()
    assert Event.objects.count() == events
    return messages


def active(text, author, approver):
    version = apply(text, author)
    charter_version_submit(version=version, by=actor_for(author))
    return charter_version_approve(version=version, by=actor_for(approver))


# --- Guardrails: each bad charter gets its own message and nothing is saved ------------------------------


def test_a_proprietary_asset_is_never_shareable(charter_text, officer):
    text = charter_text(lambda d: d["assets"]["shareable"].append({"asset": "atlas-70b", "version": "2.0"}))
    refused(text, officer, "atlas-70b 2.0 is classified proprietary, so it can never be shareable")


def test_an_asset_cannot_be_both_shareable_and_proprietary(charter_text, officer):
    text = charter_text(lambda d: d["assets"]["proprietary"].append({"asset": "atlas-7b", "version": "1.0"}))
    refused(text, officer, "atlas-7b 1.0 is listed as both shareable and proprietary")


def test_download_weights_is_never_permitted_for_a_restricted_asset(charter_text, officer):
    def change(d):
        d["actions"]["model"].append({"action": "download_weights", "purposes": ["benchmarking"]})

    messages = refused(charter_text(change), officer, "download_weights is never permitted for a restricted")
    assert any("sentinel-classifier 0.9" in message for message in messages)


def test_download_weights_is_allowed_when_every_shared_model_is_shareable(charter_text, officer):
    def change(d):
        d["assets"]["shareable"] = [ref for ref in d["assets"]["shareable"] if ref["asset"] != "sentinel-classifier"]
        d["actions"]["model"].append({"action": "download_weights", "purposes": ["benchmarking"]})

    assert apply(charter_text(change), officer).number == 1


def test_the_validity_window_must_be_ordered(charter_text, officer):
    text = charter_text(lambda d: d["validity"].update({"from": "2027-09-01", "until": "2027-08-31"}))
    refused(text, officer, "the window must end after it starts")


def test_every_referenced_asset_must_exist(charter_text, officer):
    text = charter_text(lambda d: d["assets"]["shareable"].append({"asset": "atlas-8b", "version": "1.0"}))
    refused(text, officer, "no asset 'atlas-8b' with version '1.0' is registered")


def test_an_asset_of_another_partner_cannot_be_shared(charter_text, officer):
    text = charter_text(lambda d: d["assets"]["shareable"].append({"asset": "atlas-7b-helix-ft", "version": "1.0"}))
    refused(text, officer, "no asset 'atlas-7b-helix-ft' with version '1.0' is registered for meridian-ai or northwind")


def test_every_referenced_purpose_must_exist(charter_text, officer):
    text = charter_text(lambda d: d["actions"]["model"][0]["purposes"].append("red-teaming"))
    refused(text, officer, "'red-teaming' is not one of this charter's purposes")


def test_the_referenced_playbook_must_exist(charter_text, officer):
    def change(d):
        del d["playbook"]
        d["incident_response"]["playbook"] = "no-such-playbook"

    refused(charter_text(change), officer, "there is no incident playbook 'no-such-playbook'")


def test_a_misuse_rule_needs_its_parameters(charter_text, officer):
    text = charter_text(lambda d: d["misuse"][0].update(params={"factor": 5}))
    refused(text, officer, "rule usage_spike needs window_minutes under params")


def test_the_partner_must_exist(charter_text, officer):
    refused(charter_text(lambda d: d.update(partner="nobody")), officer, "there is no partner 'nobody'")


def test_a_schema_error_names_the_line_and_the_field(charter_text, officer):
    text = charter_text().replace("cadence_days: 90", "cadence_days: ninety")
    line = next(number for number, content in enumerate(text.splitlines(), 1) if "cadence_days" in content)
    messages = refused(text, officer, "review.cadence_days")
    assert any(message.startswith(f"line {line}: review.cadence_days") for message in messages), messages


def test_a_version_label_written_as_a_number_is_told_to_be_quoted(charter_text, officer):
    text = charter_text().replace("version: '1.1'", "version: 1.1")
    refused(text, officer, 'must be text: put it in quotes, e.g. "1.1"')


def test_guardrails_are_checked_again_at_approval(charter_text, officer, second_officer, demo_registry):
    version = apply(charter_text(), officer)
    charter_version_submit(version=version, by=actor_for(officer))
    demo_registry["atlas-7b 1.1"].__class__.objects.filter(pk=demo_registry["atlas-7b 1.1"].pk).update(
        classification="proprietary"
    )
    with pytest.raises(ValidationError, match=r"atlas-7b 1\.1 is classified proprietary"):
        charter_version_approve(version=version, by=actor_for(second_officer))
    version.refresh_from_db()
    assert version.status == "in_review"


# --- Lifecycle ------------------------------------------------------------------------------------------


def test_applying_a_new_charter_creates_a_draft_and_its_playbook(charter_text, officer):
    version = apply(charter_text(), officer)
    assert (version.number, version.status, version.charter.status) == (1, "draft", "draft")
    assert version.playbook.slug == "model-misuse" and len(version.playbook.steps) == 5
    assert version.exit_plan.partner_attests_destruction is True
    assert version.document["assets"]["shareable"][0]["fingerprint"] == demo_fingerprint("atlas-7b", "1.0")
    assert len(version.content_hash) == 64


def test_applying_the_same_file_twice_changes_nothing(charter_text, officer):
    apply(charter_text(), officer)
    events = Event.objects.count()
    assert apply(charter_text(), officer) is None
    assert CharterVersion.objects.count() == 1 and Event.objects.count() == events


def test_the_author_cannot_approve_their_own_version(charter_text, officer):
    version = apply(charter_text(), officer)
    charter_version_submit(version=version, by=actor_for(officer))
    with pytest.raises(ValidationError, match="two-person rule needs a second officer"):
        charter_version_approve(version=version, by=actor_for(officer))
    version.refresh_from_db()
    assert version.status == "in_review" and version.charter.status == "in_review"


def test_everyone_who_wrote_a_draft_is_barred_from_approving_it(charter_text, officer, second_officer, host):
    from accounts.roles import Role
    from accounts.services import user_create

    third = user_create(username="tess", organisation=host, role=Role.OFFICER, by=SETUP)
    version = apply(charter_text(), officer)
    apply(charter_text(lambda d: d.update(title="Edited by Oscar")), second_officer)
    charter_version_submit(version=version, by=actor_for(second_officer))
    for writer in (officer, second_officer):
        with pytest.raises(ValidationError, match="two-person rule"):
            charter_version_approve(version=version, by=actor_for(writer))
    assert charter_version_approve(version=version, by=actor_for(third)).status == "active"


def test_a_second_officer_activates_the_version(charter_text, officer, second_officer):
    version = active(charter_text(), officer, second_officer)
    charter = Charter.objects.get()
    assert (version.status, charter.status, charter.active_version) == ("active", "active", version)
    assert version.approved_by == second_officer


def test_an_auditor_cannot_approve(charter_text, officer, auditor):
    version = apply(charter_text(), officer)
    charter_version_submit(version=version, by=actor_for(officer))
    with pytest.raises(PermissionDenied, match="Only a governance officer"):
        charter_version_approve(version=version, by=actor_for(auditor))


def test_an_activated_version_cannot_be_updated(charter_text, officer, second_officer):
    version = active(charter_text(), officer, second_officer)
    version.document = {**version.document, "objective": "rewritten"}
    with pytest.raises(ImmutableVersionError, match="cannot change"):
        version.save()
    plan = version.exit_plan
    plan.outputs_owner = "partner"
    with pytest.raises(ImmutableVersionError):
        plan.save()
    version.refresh_from_db()
    assert version.document["objective"] != "rewritten"


def test_a_version_in_review_cannot_be_edited_or_replaced(charter_text, officer):
    version = apply(charter_text(), officer)
    charter_version_submit(version=version, by=actor_for(officer))
    with pytest.raises(ImmutableVersionError):
        version.save()
    with pytest.raises(ValidationError, match="is in review"):
        apply(charter_text(lambda d: d.update(title="Changed")), officer)


def test_amending_an_active_charter_creates_a_new_draft_and_approval_supersedes(charter_text, officer, second_officer):
    first = active(charter_text(), officer, second_officer)
    amended = apply(charter_text(lambda d: d["review"].update(cadence_days=60)), officer)
    assert (amended.number, amended.status) == (2, "draft")
    assert Charter.objects.get().active_version == first
    charter_version_submit(version=amended, by=actor_for(officer))
    charter_version_approve(version=amended, by=actor_for(second_officer))
    first.refresh_from_db()
    assert first.status == "superseded"
    assert Charter.objects.get().active_version == amended


def test_amend_in_the_ui_copies_the_active_version(charter_text, officer, second_officer):
    first = active(charter_text(), officer, second_officer)
    draft = charter_amend(charter=first.charter, by=actor_for(officer))
    assert (draft.number, draft.document, draft.content_hash) == (2, first.document, first.content_hash)


def test_a_stale_edit_of_a_draft_is_refused_not_lost(charter_text, officer, second_officer):
    version = apply(charter_text(), officer)
    apply(charter_text(lambda d: d.update(title="Oscar's edit")), second_officer, expected_revision=1)
    with pytest.raises(ValidationError, match="Someone else saved version 1"):
        apply(charter_text(lambda d: d.update(title="Olivia's edit")), officer, expected_revision=1)
    version.refresh_from_db()
    assert version.document["title"] == "Oscar's edit" and version.revision == 2


def test_suspend_resume_and_terminate(charter_text, officer, second_officer):
    charter = active(charter_text(), officer, second_officer).charter
    with pytest.raises(ValidationError, match="Give the reason"):
        charter_suspend(charter=charter, by=SETUP, reason=" ")
    assert charter_suspend(charter=charter, by=SETUP, reason="usage spike").status == "suspended"
    assert charter_resume(charter=charter, by=SETUP, reason="explained").status == "active"
    assert charter_terminate(charter=charter, by=SETUP, reason="project ended").status == "terminated"
    with pytest.raises(ValidationError, match="cannot become active"):
        charter_resume(charter=charter, by=SETUP, reason="oops")
    with pytest.raises(ValidationError, match="can no longer be amended"):
        apply(charter_text(lambda d: d.update(title="After the end")), officer)


def test_a_charter_past_its_window_expires_once(charter_text, charter_window, officer, second_officer):
    from datetime import timedelta

    charter = active(charter_text(), officer, second_officer).charter
    last_day = charter_window.last_day
    assert charter_expire(charter=charter, today=last_day, by=SETUP) is None
    assert charter_expire(charter=charter, today=last_day + timedelta(days=1), by=SETUP).status == "expired"
    assert charter_expire(charter=charter, today=last_day + timedelta(days=2), by=SETUP) is None
    assert Event.objects.filter(action="charter.expired").count() == 1


def test_every_transition_writes_an_audit_event(charter_text, officer, second_officer, a_admin):
    version = apply(charter_text(), officer)
    apply(charter_text(lambda d: d.update(title="Second draft")), officer)
    charter_version_submit(version=version, by=actor_for(officer))
    charter_version_return(version=version, by=actor_for(second_officer), reason="tighten exports")
    charter_version_submit(version=version, by=actor_for(officer))
    charter_version_approve(version=version, by=actor_for(second_officer))
    charter_acknowledge(version=version, trainings_confirmed=["responsible-evaluation"], by=actor_for(a_admin))
    charter = version.charter
    charter_suspend(charter=charter, by=actor_for(officer), reason="check")
    charter_resume(charter=charter, by=actor_for(officer), reason="ok")
    charter_amend(charter=charter, by=actor_for(officer))
    with second_officer_confirming("charter_end"):
        exits.charter_end(charter=charter, by=actor_for(officer), reason="done")  # the one way a charter ends
    actions = list(
        Event.objects.filter(partner="northwind", target_type__startswith="charters.").values_list("action", flat=True)
    )
    assert actions == [
        "charter.created",
        "charter_version.drafted",
        "charter_version.updated",
        "charter_version.submitted",
        "charter_version.returned",
        "charter_version.submitted",
        "charter_version.approved",
        "charter_version.acknowledged",
        "charter.suspended",
        "charter.resumed",
        "charter_version.drafted",
        "charter.terminated",
    ]
    assert Event.objects.filter(action="playbook.created").count() == 1


# --- Partner acknowledgement ----------------------------------------------------------------------------


def test_a_partner_admin_must_confirm_each_training(charter_text, officer, second_officer, a_admin):
    version = active(charter_text(), officer, second_officer)
    with pytest.raises(ValidationError, match="Confirm each required training first: responsible-evaluation"):
        charter_acknowledge(version=version, trainings_confirmed=[], by=actor_for(a_admin))
    ack = charter_acknowledge(version=version, trainings_confirmed=["responsible-evaluation"], by=actor_for(a_admin))
    assert (ack.content_hash, ack.covers, ack.trainings) == (
        version.agreement_hash,
        "agreement",
        [{"name": "responsible-evaluation", "version": "2026.2"}],
    )


def test_another_partners_admin_cannot_accept(charter_text, officer, second_officer, b_admin):
    version = active(charter_text(), officer, second_officer)
    with pytest.raises(PermissionDenied, match="Only a partner admin of Northwind Labs"):
        charter_acknowledge(
            version=version,
            trainings_confirmed=["responsible-evaluation"],
            by=actor_for(b_admin),
        )
    assert not CharterAcknowledgement.objects.exists()


def test_a_new_version_needs_a_new_acknowledgement(charter_text, officer, second_officer, a_admin):
    first = active(charter_text(), officer, second_officer)
    charter_acknowledge(version=first, trainings_confirmed=["responsible-evaluation"], by=actor_for(a_admin))
    second = active(charter_text(lambda d: d["review"].update(cadence_days=30)), officer, second_officer)
    assert not second.acknowledgements.exists()
    with pytest.raises(ValidationError, match="only the active version can be accepted"):
        charter_acknowledge(version=first, trainings_confirmed=["responsible-evaluation"], by=actor_for(a_admin))


# --- Charter as code ------------------------------------------------------------------------------------


def run(*args):
    out = io.StringIO()
    call_command("charter", *args, stdout=out)
    return out.getvalue()


def test_plan_shows_a_new_charter_then_apply_then_no_changes(demo_registry, officer, tmp_path):
    from tests.factories import EXAMPLES

    path = str(EXAMPLES / "northwind-evaluation.yaml")
    assert "compared with nothing (a new charter)" in run("plan", path)
    assert "version 1 saved as a draft" in run("apply", path, "--author", "olivia")
    assert "no changes to northwind-evaluation" in run("plan", path)


def test_export_then_plan_shows_no_change(demo_registry, officer, tmp_path):
    from tests.factories import EXAMPLES

    run("apply", str(EXAMPLES / "helix-finetune.yaml"), "--author", "olivia")
    exported = tmp_path / "exported.yaml"
    exported.write_text(run("export", "helix-finetune"))
    assert "no changes to helix-finetune" in run("plan", str(exported))


def test_plan_shows_the_change_as_a_diff(demo_registry, officer, charter_text, tmp_path):
    apply(charter_text(), officer)
    changed = tmp_path / "changed.yaml"
    changed.write_text(charter_text(lambda d: d["review"].update(cadence_days=45)))
    output = run("plan", str(changed))
    assert "-  cadence_days: 90" in output and "+  cadence_days: 45" in output


def test_plan_on_an_invalid_file_names_the_line_and_writes_nothing(demo_registry, officer, charter_text, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(charter_text().replace("unanswered: revoke", "unanswered: ignore"))
    line = next(n for n, content in enumerate(bad.read_text().splitlines(), 1) if "unanswered" in content)
    events = Event.objects.count()
    with pytest.raises(CommandError) as caught:
        run("plan", str(bad))
    assert f"line {line}: review.unanswered: 'ignore' is not one of revoke, escalate." in str(caught.value)
    assert "Nothing was written." in str(caught.value)
    assert not Charter.objects.exists() and Event.objects.count() == events


def test_plan_on_broken_yaml_names_the_line(demo_registry, tmp_path):
    bad = tmp_path / "broken.yaml"
    bad.write_text("name: x\npartner: [unclosed\n")
    with pytest.raises(CommandError, match=r"line \d+: \(document\): this is not valid YAML"):
        run("plan", str(bad))


def test_apply_needs_an_officer_as_author(demo_registry, a_admin):
    from tests.factories import EXAMPLES

    with pytest.raises(CommandError, match="--author must name a governance officer"):
        run("apply", str(EXAMPLES / "northwind-evaluation.yaml"), "--author", "northwind-admin")
    assert not Charter.objects.exists()


def test_a_changed_playbook_must_get_a_new_name(charter_text, officer):
    apply(charter_text(), officer)
    with pytest.raises(CharterDocumentError, match="playbooks never change"):
        apply(charter_text(lambda d: d["playbook"]["steps"].pop()), officer)


def test_the_schema_command_prints_the_published_schema(db):
    assert '"title": "Accord collaboration charter"' in run("schema")


def test_a_rendering_depends_on_the_content_not_on_key_order(charter_text):
    import yaml

    from charters.documents import to_yaml

    document = yaml.safe_load(charter_text())

    def reversed_keys(value):
        if isinstance(value, dict):
            return {key: reversed_keys(value[key]) for key in reversed(list(value))}
        if isinstance(value, list):
            return [reversed_keys(item) for item in value]
        return value

    assert to_yaml(reversed_keys(document)) == to_yaml(document)
    assert to_yaml(document).startswith("name: northwind-evaluation\npartner: northwind\ntitle:")
