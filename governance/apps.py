from django.apps import AppConfig


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from accounts.proposals import kind_register
        from governance.exits.services import CHARTER_END_PROPOSAL
        from governance.policy.rollback import POLICY_ROLLBACK_PROPOSAL
        from governance.vault.destruction import KEY_DESTROY_NOW_PROPOSAL

        # This app's acts that take two officers (accounts.proposals; accounts registers its own).
        for kind in (CHARTER_END_PROPOSAL, POLICY_ROLLBACK_PROPOSAL, KEY_DESTROY_NOW_PROPOSAL):
            kind_register(kind)

        from accounts.proposals import notifier_register
        from charters.services.charters import acceptance_notifier_register
        from governance.outbox.services import charter_acceptance_mail, proposal_mail

        notifier_register(proposal_mail)  # the other officers are mailed when a proposal waits for one of them
        acceptance_notifier_register(charter_acceptance_mail)  # the partner's admins, when a version waits for them

        from charters.guardrails import attestation_check_register
        from governance.attestation.requirements import requirement_problems

        attestation_check_register(requirement_problems)  # a charter's attestation terms name this app's things

        from accounts.matrix import found, visible_register
        from governance import access

        # What a partner's people may see of this app's objects, for the authorization matrix's 404 rule.
        visible_register("grant", lambda user, kw: found(lambda: access.grant_get_for_user(user, kw["pk"])))
        visible_register("exit", lambda user, kw: found(lambda: access.exit_get_for_user(user, kw["pk"])))
        visible_register(
            "certificate", lambda user, kw: found(lambda: access.certificate_get_for_user(user, kw["number"]))
        )
        visible_register("role", lambda user, kw: access.roles_visible_to(user).filter(slug=kw["slug"]).exists())
        visible_register(
            "incident step",
            lambda user, kw: (
                access.partner_steps_of(user).filter(incident_id=kw["pk"], position=kw["position"]).exists()
            ),
        )
