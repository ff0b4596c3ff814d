from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "People and organisations"

    def ready(self) -> None:
        # Receivers: the session's start on login, and the trail's event when a lockout begins.
        from accounts import factors, lockout, proposals, signals  # noqa: F401

        # The acts of this app that take two officers (governance registers its own).
        proposals.kind_register(factors.FACTORS_RESET_PROPOSAL)

        from accounts import access
        from accounts.matrix import found, visible_register
        from audit.access import export_get_for_user, export_job_get_for_user

        # What a partner's people may see of this app's objects (and the trail's exports, audit being below), for
        # the authorization matrix's 404 rule.
        visible_register("token", lambda user, kw: found(lambda: access.token_get_for_user(user, kw["pk"])))
        visible_register(
            "principal", lambda user, kw: access.principals_visible_to(user).filter(username=kw["username"]).exists()
        )
        visible_register(
            "export",
            lambda user, kw: (
                found(lambda: export_job_get_for_user(user, kw["pk"]))
                or found(lambda: export_get_for_user(user, kw["pk"]))
            ),
        )
