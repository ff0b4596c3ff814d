"""Every action the trail records, with what it means, grouped by the app that records it.

This is the one list: ``audit.trail.record()`` and ``event()`` refuse any other action, the trail's search offers
these (and their prefixes, such as ``grant.``), and ``manage.py audit actions`` prints them for the operator
guide. The names are stored in every event and sealed into the chain, so a name never changes: a new meaning is a
new action. tests/audit/test_actions.py checks that what the code writes and this list agree both ways.

The audit app imports no other app, so the other apps' actions are written here as data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    name: str
    meaning: str
    app: str

    @property
    def prefix(self) -> str:
        """The family the trail's search can ask for as a whole: ``grant.`` for ``grant.revoked``."""
        return self.name.split(".", 1)[0] + "."


BY_APP: dict[str, dict[str, str]] = {
    "audit": {
        "audit.exported": "An export of sealed events was written, with its signed manifest.",
        "audit.export_failed": "An export was asked for and could not be written (the reason says why).",
        "audit.export_denied": "A partner admin asked to export another partner's events and was refused.",
        "audit.legal_hold_placed": "Records and the events about them were frozen into an evidence bundle.",
    },
    "accounts": {
        "organisation.created": "The host organisation was created.",
        "partner.created": "A partner organisation was added.",
        "partner.access_ended": "A partner's API access ended with the exit of its last running charter.",
        "partner.access_restored": "A partner whose access had ended got it back: a new charter with it was approved.",
        "user.created": "A person or a service principal got an account.",
        "user.deactivated": "Someone was deactivated: their web sessions ended and their API tokens were revoked.",
        "api_token.issued": "An API token was issued (it is shown once and stored as a digest).",
        "api_token.revoked": "An API token was revoked.",
        "api_token.narrowed": "An API token was narrowed to what an exit still needs of it.",
        "api_token.rotated": "An API token was replaced by a new secret under the same name.",
        "auth.login": "Someone logged in to the web UI.",
        "auth.login_failed": "A login failed; the event names the username tried, never the password.",
        "auth.logout": "Someone logged out of the web UI.",
        "auth.token_rejected": "A bearer token matched no live token (recorded once a minute per token).",
        "auth.token_rejections_capped": "One address sent more unknown tokens in a minute than are recorded.",
        "auth.second_factor": "Someone gave their second factor (a passkey, an authenticator code or a recovery code).",
        "auth.second_factor_failed": "A wrong or used code was given as a second factor (the code is not kept).",
        "auth.factor_added": "Someone set up a passkey or an authenticator app.",
        "auth.factor_removed": "Someone removed one of their own passkeys or authenticators.",
        "auth.recovery_codes_issued": "Someone was given a new set of one-time recovery codes (only digests kept).",
        "auth.factors_reset": "An officer removed another person's factors; they enrol again at their next login.",
        "proposal.made": "An officer proposed an irreversible act; a second officer must confirm it before it happens.",
        "proposal.confirmed": "A second officer confirmed a proposal and its act was carried out (both are named).",
        "proposal.failed": "A second officer confirmed a proposal, but its act could no longer be done; nothing was.",
        "proposal.withdrawn": "A proposal was withdrawn, by the officer who made it or another who disagreed.",
        "proposal.expired": "A proposal lapsed unconfirmed: its time (ACCORD_PROPOSAL_HOURS) ran out.",
        "auth.session_ended": "Web sessions were ended: by their person, a reset or a deactivation.",
        "auth.locked_out": "Repeated failed logins locked an account or an address for a while.",
        "auth.unlocked": "An officer lifted a login lock before its time.",
    },
    "charters": {
        "asset.registered": "An asset was added to the registry.",
        "asset_version.registered": "A version of an asset was registered, with its fingerprint and classification.",
        "playbook.created": "An incident playbook was defined (a playbook never changes once created).",
        "charter.created": "A charter was created with its first draft.",
        "charter.suspended": "An officer suspended a charter: its grants deny until it resumes.",
        "charter.resumed": "An officer resumed a suspended charter.",
        "charter.terminated": "A charter was terminated: it ends now, and a version still open is withdrawn.",
        "charter.expired": "A charter's validity window ended.",
        "charter_version.drafted": "A new draft version of a charter was written (from a file or by amending).",
        "charter_version.updated": "An open draft was replaced with new content.",
        "charter_version.submitted": "A draft was submitted for review.",
        "charter_version.returned": "A version in review was sent back to draft, with the reason.",
        "charter_version.approved": "A second officer approved a version in review: it is the charter's terms now.",
        "charter_version.acknowledged": "A partner admin accepted the active version and confirmed its trainings.",
        "charter_version.host_terms_written": "A version's host-only terms (misuse thresholds and windows, internal "
        "notification lists) and its whole hash, host-scoped: no partner's slice holds them.",
    },
    "governance": {
        "grant.requested": "A partner admin requested a grant.",
        "grant.approved": "An officer approved a requested grant.",
        "grant.refused": "An officer refused a requested grant.",
        "grant.suspended": "A grant was suspended, by an officer or by the anomaly checks.",
        "grant.resumed": "A suspended grant was resumed.",
        "grant.revoked": "A grant was revoked, for good.",
        "grant.expired": "A grant's validity window ended.",
        "grant.held": "An incident held a grant: it denies until released, whatever its status says.",
        "grant.released": "An incident's hold on a grant was released.",
        "partner_role.created": "A partner role (a group of principals that grants can name) was created.",
        "partner_role.member_added": "A principal joined a partner role.",
        "partner_role.member_removed": "A principal left a partner role.",
        "decision.allow": "The decision point allowed a request.",
        "decision.deny": "The decision point denied a request; the reasons say why.",
        "session.opened": "A principal opened a time-limited session for a grant that requires one (an attested "
        "session when opened on verified attestation evidence: its details name the verifier, the evidence's digest "
        "and the measurement).",
        "sessions.ended": "Decision sessions ended before their expiry: their grant was suspended, held or revoked, "
        "or their enclave's measurement was removed from its allow-list (every process stops honouring them at once).",
        "key.released": "An artefact's data key was released to an attested enclave, wrapped to the enclave's own "
        "public key (a JWE): the details name the decision, the key, the enclave key's thumbprint, the verifier, the "
        "evidence's digest and the measurement. The key itself is never recorded.",
        "key.release_refused": "A key release was refused although the decision allowed the action: no enclave key "
        "came with the attestation, or the asset version's key cannot be released.",
        "measurements.list_created": "An officer created a measurement allow-list, for charters to name.",
        "measurements.entry_added": "An officer put a measured enclave environment on an allow-list (a new version).",
        "measurements.entry_removed": "An officer took an environment off an allow-list (a new version): its "
        "attested sessions end at once.",
        "policy.bundle_recorded": "A policy bundle was recorded: the compiled policy after a change.",
        "policy.rolled_back": "An officer rolled the policy back to an earlier bundle.",
        "review.started": "An access review began, on the charter's cadence or on demand.",
        "review.item_answered": "A reviewer kept or revoked a grant under review, with a justification.",
        "review.item_unanswered": "A grant nobody answered for was revoked or escalated, as the charter says.",
        "review.closed": "An access review closed: every item answered, the deadline, or an officer's close.",
        "incident.declared": "An incident was declared on a charter, run by its playbook.",
        "incident.drill_started": "A drill began: the playbook's checklist and clocks, holding nothing.",
        "incident.finding_added": "An anomaly finding was attached to an incident.",
        "incident.responders_told": "The host's responders were notified of an incident (host-scoped: the list is "
        "the charter's host-only terms; the partner's slice counts them).",
        "anomaly.found": "A grant's use broke a misuse rule: the finding, with the rule's thresholds (host-scoped; "
        "the partner's slice has the grant's suspension, without them).",
        "incident.step_done": "A playbook step was done, by a person or automatically.",
        "incident.step_overdue": "A playbook step passed its deadline and was escalated to the officers.",
        "incident.closed": "An incident was closed with its resolution.",
        "incident.drill_finished": "A drill was closed, with the steps that were done late.",
        "data_key.created": "A data key was made for encrypted artefacts (stored only wrapped by the KEK).",
        "artefact.stored": "An artefact was encrypted into the store.",
        "data_key.destruction_scheduled": "A data key's destruction was scheduled for the end of its grace period.",
        "data_key.destruction_cancelled": "A scheduled destruction was cancelled: the key and its files are kept.",
        "data_key.destruction_brought_forward": "Two officers agreed to destroy a data key now, not after its grace.",
        "data_key.destroyed": "A data key was erased and a certificate of destruction signed.",
        "exit.started": "An exit began: the charter ends and its exit plan runs.",
        "exit.revocations_done": "Every grant and token an exit revokes was revoked.",
        "exit.item_started": "An exit plan line was carried out: retained, migrated or scheduled for destruction.",
        "exit.item_migrated": "An officer confirmed the hand-over of an asset the plan migrates.",
        "exit.destruction_attested": "The partner admin attested that the partner destroyed its copies.",
        "exit.closed": "An exit closed with its report.",
    },
}

ACTIONS: dict[str, Action] = {
    name: Action(name, meaning, app) for app, actions in BY_APP.items() for name, meaning in actions.items()
}


def action_check(name: str) -> None:
    """Raise ValueError unless ``name`` is a registered action: writing another is a programming error."""
    if name not in ACTIONS:
        raise ValueError(f"{name!r} is not a registered audit action: add it to audit/actions.py with its meaning.")


def action_prefixes() -> list[str]:
    """The families of actions, for a search by prefix: ``api_token.``, ``audit.``, ..."""
    return sorted({action.prefix for action in ACTIONS.values()})


def action_filter_choices() -> list[tuple[str, str]]:
    """What the trail's search accepts as its action filter: each family by its prefix, then each action."""
    families = [(prefix, f"every {prefix}* event") for prefix in action_prefixes()]
    return families + [(name, action.meaning) for name, action in sorted(ACTIONS.items())]


def actions_markdown() -> str:
    """The registry as the operator guide prints it: a table per app."""
    lines: list[str] = []
    for app, actions in BY_APP.items():
        lines += [f"**{app}**", "", "| action | what it means |", "|---|---|"]
        lines += [f"| `{name}` | {meaning} |" for name, meaning in actions.items()]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
