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
