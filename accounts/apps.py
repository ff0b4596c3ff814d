from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "People and organisations"

    def ready(self) -> None:
        # Receivers: the session's start on login, and the trail's event when a lockout begins.
        from accounts import factors, lockout, proposals, signals  # noqa: F401

        # The acts of this app that take two officers (governance registers its own).
        proposals.kind_register(factors.FACTORS_RESET_PROPOSAL)
