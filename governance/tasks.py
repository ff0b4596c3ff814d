"""Celery tasks: each fetches what it needs by id and calls a service. Those that retry share one policy
(accord/celery.py); the registered names are kept, since beat rows and queued messages name them."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from accord.celery import RetryingJob, RetryingTask
from accounts.proposals import proposals_lapse as proposals_lapse_service
from governance.anomalies.services import anomalies_check as anomalies_check_service
from governance.attestation.verifiers import jwks_fetch_all
from governance.exits.services import exit_run as exit_run_service
from governance.exits.services import exits_tick
from governance.grants.expiry import expiry_run as expiry_run_service
from governance.incidents.services import incident_run as incident_run_service
from governance.incidents.services import incidents_run as incidents_run_service
from governance.ops.heartbeats import worker_heartbeat_record
from governance.outbox.tasks import outbox_send as outbox_send  # re-exported: it lives beside the outbox
from governance.policy.bundles import bundles_record
from governance.reviews.services import reviews_run as reviews_run_service
from governance.usage.services import usage_rollup as usage_rollup_service
from governance.vault.destruction import destructions_run as destructions_run_service
from governance.whatif.services import whatif_run as whatif_run_service

logger = logging.getLogger(__name__)


# Any error, not only the database's: a heartbeat that is not retried shows as a worker gone quiet.
@shared_task(bind=True, base=RetryingTask, autoretry_for=(Exception,))
def worker_heartbeat(self: Any) -> str:
    """Scheduled by beat; its run shows in the worker's log and in /healthz as the round trip
    beat -> broker -> worker -> database."""
    hostname = self.request.hostname or "unknown-worker"
    heartbeat = worker_heartbeat_record(hostname=hostname)
    logger.info("Heartbeat from %s: beat -> broker -> worker round trip #%d done.", hostname, heartbeat.beats)
    return hostname


# Any error, not only the database's: compiling the policy can fail too, and a run repeats nothing.
@shared_task(base=RetryingTask, autoretry_for=(Exception,))
def policy_bundles_record() -> int:
    """Scheduled by beat: a bundle for each policy change since the last run. Idempotent: a change already
    recorded is never recorded twice (the feed number is unique), so a redelivered run does nothing more."""
    return bundles_record()


@shared_task(name="governance.tasks.whatif_run", acks_late=True)
def whatif_run(run_id: int) -> str:
    """Queued when an officer asks for a what-if; a redelivered run starts over, a finished one is left alone."""
    return whatif_run_service(run_id).status


@shared_task(base=RetryingTask)
def expiry_run() -> dict[str, int]:
    """Scheduled by beat every 30 s. Each grant and charter expires in its own transaction behind a status
    compare-and-swap, so a redelivered or interrupted run finishes the rest and repeats nothing."""
    result = expiry_run_service()
    return {"charters": result.charters, "grants": result.grants, "refused": result.refused}


@shared_task(base=RetryingTask)
def anomalies_check() -> int:
    """Scheduled by beat every minute. A finding is unique per grant, rule and window, and made in the same
    transaction as the suspension and the mail, so a redelivered run finds nothing new to do."""
    return len(anomalies_check_service())


@shared_task(base=RetryingTask)
def reviews_run() -> dict[str, int]:
    """Scheduled by beat every minute: reviews due on their cadence, reminders, and deadlines. Each step claims
    its row first (a compare-and-swap), so a redelivered or interrupted run finishes the rest exactly once."""
    run = reviews_run_service()
    return {"started": run.started, "reminded": run.reminded, "resolved": run.resolved, "closed": run.closed}


@shared_task(name="governance.tasks.incident_run", base=RetryingJob)
def incident_run(incident_id: int) -> int:
    """Queued when an incident is declared: its automatic steps. Each step is claimed and done in one
    transaction, so a redelivered run does only what is left."""
    return incident_run_service(incident_id)


@shared_task(base=RetryingTask)
def incidents_run() -> dict[str, int]:
    """Scheduled by beat every minute: escalates overdue playbook steps (once each) and finishes automatic steps
    that a lost message left undone."""
    run = incidents_run_service()
    return {"escalated": run.escalated, "resumed": run.resumed}


@shared_task(name="governance.tasks.exit_run", base=RetryingJob)
def exit_run(exit_id: int) -> str:
    """Queued when an exit starts: revocations, then each plan line. Every grant, token and line is claimed
    before it changes, so a run redelivered after a worker died finishes the rest and repeats nothing."""
    return exit_run_service(exit_id).status


@shared_task(base=RetryingTask)
def destructions_run() -> dict[str, int]:
    """Scheduled by beat every minute: destroys the data keys whose grace period has ended (erase, verify and
    certify in one transaction per key, behind a compare-and-swap); then the exits, which the vault knows nothing
    of, settle the lines whose keys are gone and close those with nothing left to wait for."""
    run = destructions_run_service()
    return {"destroyed": len(run.destroyed), "failed": run.failed, "exits": exits_tick()}


@shared_task(base=RetryingTask)
def proposals_lapse() -> int:
    """Scheduled by beat every minute: proposals no second officer confirmed in time lapse, each with its event (a
    late confirmation is refused anyway; this puts the lapse in the trail when it happens)."""
    return proposals_lapse_service()


@shared_task(base=RetryingTask)
def usage_rollup() -> dict[str, int]:
    """Scheduled by beat every minute: count the decisions sealed since the last run into the usage roll-up. Each
    batch counts and moves the cursor in one locked transaction, so a redelivered run counts nothing twice."""
    result = usage_rollup_service()
    return {"events": result.events, "chain_seq": result.chain_seq, "pruned": result.pruned}


@shared_task(name="governance.tasks.attestation_keys_fetch")
def attestation_keys_fetch() -> dict[str, str]:
    """Scheduled by beat every 10 minutes: fetch each attestation verifier's jwks_url into the cache, so that no
    verification waits on a verifier's site. Not retried: a URL that failed is tried again at the next run, and its
    verifier keeps the keys fetched before (or, having none, refuses every token)."""
    return jwks_fetch_all()
