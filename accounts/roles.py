"""The four roles, each a Django group whose permissions the apps grant in their own data migrations."""

from __future__ import annotations

from typing import Any

from django.db import models


class Role(models.TextChoices):
    OFFICER = "governance_officer", "Governance officer"
    AUDITOR = "auditor", "Auditor"
    PARTNER_ADMIN = "partner_admin", "Partner admin"
    PARTNER_PRINCIPAL = "partner_principal", "Partner principal"


HOST_ROLES = frozenset({Role.OFFICER, Role.AUDITOR})
PARTNER_ROLES = frozenset({Role.PARTNER_ADMIN, Role.PARTNER_PRINCIPAL})


def grant_permissions(apps: Any, grants: dict[str, list[str]]) -> None:
    """For data migrations: give each role's group the listed ``app_label.codename`` permissions.

    Django creates permission rows only after all migrations ran, so they are created here first for the
    apps named, from the historical models in ``apps``.
    """
    from django.contrib.auth.management import create_permissions

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    labels = {perm.split(".", 1)[0] for perms in grants.values() for perm in perms}
    for label in labels:
        app_config = apps.get_app_config(label)
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    for role, perms in grants.items():
        group, _ = Group.objects.get_or_create(name=role)
        for perm in perms:
            app_label, codename = perm.split(".", 1)
            group.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def revoke_permissions(apps: Any, grants: dict[str, list[str]]) -> None:
    """The reverse of grant_permissions, for migrating backwards."""
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in grants.items():
        group = Group.objects.filter(name=role).first()
        if group is None:
            continue
        for perm in perms:
            app_label, codename = perm.split(".", 1)
            group.permissions.remove(*Permission.objects.filter(content_type__app_label=app_label, codename=codename))
