from django.apps import AppConfig


class ChartersConfig(AppConfig):
    name = "charters"
    verbose_name = "Assets and charters"

    def ready(self) -> None:
        from accounts.matrix import found, visible_register
        from charters import access

        # What a partner's people may see of this app's objects, for the authorization matrix's 404 rule.
        visible_register("charter", lambda user, kw: found(lambda: access.charter_get_for_user(user, kw["slug"])))
        visible_register(
            "charter version",
            lambda user, kw: found(lambda: access.charter_version_get_for_user(user, kw["slug"], kw["number"])),
        )
        visible_register("asset", lambda user, kw: found(lambda: access.asset_get_for_user(user, kw["pk"])))
