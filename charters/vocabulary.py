"""The closed vocabularies of a charter document, each defined once.

The published JSON Schema takes its enums from here (a node of ``schema/charter.schema.json`` that says
``"$comment": "enum: Action"`` is given ``Action``'s values), and the models, forms and services that store or
compare these words use the same members. The values are what charters, rows and sealed audit events already hold:
they never change; a new word is a new member.
"""

from __future__ import annotations

from django.db import models


class Action(models.TextChoices):
    """What a grant lets a principal do with an asset version, and what a charter may permit."""

    INFER = "infer", "Infer"
    EVALUATE = "evaluate", "Evaluate"
    FINE_TUNE = "fine_tune", "Fine-tune"
    DOWNLOAD_WEIGHTS = "download_weights", "Download weights"
    EXPORT_OUTPUTS = "export_outputs", "Export outputs"


class MisuseRule(models.TextChoices):
    """The checks a charter's ``misuse`` entries can name (governance/anomalies/services.py runs them)."""

    USAGE_SPIKE = "usage_spike", "Usage spike"
    OUTSIDE_WINDOW = "outside_window", "Use outside the validity window"
    DENIED_EXPORTS = "denied_exports", "Denied exports"
    NEW_CLIENT_ADDRESS = "new_client_address", "New client address"
    REMOVED_MEASUREMENT = "removed_measurement", "Enclave measurement no longer allowed"


class Severity(models.TextChoices):
    """How grave a misuse is, lowest first; a playbook's ``severity_levels`` are drawn from the same words."""

    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"


class Unanswered(models.TextChoices):
    """What an access review's deadline does to an item nobody answered (the charter's ``review.unanswered``)."""

    REVOKE = "revoke", "Revoke"
    ESCALATE = "escalate", "Escalate to the officers"


class AutomaticStep(models.TextChoices):
    """What a playbook step may do by itself when an incident is declared."""

    SUSPEND_GRANTS = "suspend_grants", "Suspend the partner's grants"
    PRESERVE_EVIDENCE = "preserve_evidence", "Preserve the evidence"
    NOTIFY = "notify", "Notify"


class Disposition(models.TextChoices):
    """What an exit plan does with an asset when the collaboration ends."""

    RETAIN = "retain", "Retain"
    MIGRATE = "migrate", "Migrate"
    DESTROY = "destroy", "Destroy"


# The names a schema node's "$comment" may give (see charters/documents.py).
VOCABULARIES: dict[str, type[models.TextChoices]] = {
    vocabulary.__name__: vocabulary
    for vocabulary in (Action, MisuseRule, Severity, Unanswered, AutomaticStep, Disposition)
}
