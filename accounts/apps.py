from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "People and organisations"

    def ready(self) -> None:
        # Receivers: the session's start on login, and the trail's event when a lockout begins.
        from accounts import lockout, signals  # noqa: F401
