"""Governance's models, one module per domain, all of them the app `governance` (audit events name them
`governance.<model>`, and permissions and beat rows name the app)."""

from governance.models.anomalies import AnomalyFinding
from governance.models.attestation import AttestationNonce, Measurement, MeasurementList
from governance.models.decisions import DecisionSession, UsageCounter
from governance.models.exits import Exit, ExitAttestation, ExitItem, ExitItemKey
from governance.models.grants import Grant, PartnerRole
from governance.models.incidents import Incident, IncidentStep
from governance.models.ops import WorkerHeartbeat
from governance.models.outbox import OutboxMessage
from governance.models.policy import PolicyBundle
from governance.models.reviews import ReviewCampaign, ReviewItem
from governance.models.usage import UsageCount, UsageRollupCursor, UsageTotal
from governance.models.vault import Artefact, DataKey, DestructionCertificate
from governance.models.whatif import WhatIfRun

__all__ = [
    "AnomalyFinding",
    "Artefact",
    "AttestationNonce",
    "DataKey",
    "DecisionSession",
    "DestructionCertificate",
    "Exit",
    "ExitAttestation",
    "ExitItem",
    "ExitItemKey",
    "Grant",
    "Incident",
    "IncidentStep",
    "Measurement",
    "MeasurementList",
    "OutboxMessage",
    "PartnerRole",
    "PolicyBundle",
    "ReviewCampaign",
    "ReviewItem",
    "UsageCount",
    "UsageCounter",
    "UsageRollupCursor",
    "UsageTotal",
    "WhatIfRun",
    "WorkerHeartbeat",
]
