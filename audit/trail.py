"""The one way every other app writes to the trail: ``record()``, inside the caller's transaction."""

from __future__ import annotations

import datetime
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connections, models, transaction

from audit.actions import action_check
from audit.context import current_confirmation, current_request_context
from audit.models import Event


class TrailJSONEncoder(DjangoJSONEncoder):
    """Django's encoder, except that times keep their microseconds: the trail does not round."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime):
            return o.isoformat()
        return super().default(o)


class OutsideTransactionError(RuntimeError):
    """record() was called outside transaction.atomic(): the event could outlive a rolled-back change."""


@dataclass(frozen=True)
class Actor:
    """Who acted, as the trail names them: a type, a stable id and a readable label."""

    type: str
    id: str
    label: str
    # The user behind a person's or principal's actor, for the role check of the service it is handed to (this
    # app cannot name accounts' User). Not part of the trail: two actors for the same user are equal.
    user: Any = field(default=None, compare=False, repr=False)

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(type=Event.ActorType.SYSTEM, id=name, label=name)

    @classmethod
    def anonymous(cls, label: str = "") -> Actor:
        return cls(type=Event.ActorType.ANONYMOUS, id="", label=label)


def event(
    *,
    action: str,
    actor: Actor,
    partner: str = "",
    target: models.Model | None = None,
    outcome: str = Event.Outcome.SUCCESS,
    reason: str = "",
    details: Mapping[str, Any] | None = None,
) -> Event:
    """An unsaved event, as record() writes it (see there for what each argument means). ValueError when
    ``action`` is not in audit/actions.py."""
    action_check(action)
    context = current_request_context()
    confirmation = current_confirmation()
    if confirmation is not None:
        details = {**(details or {}), "proposal": confirmation.as_details()}
    # Store exactly what a reader will get back (plain JSON types), so later digests of an event are stable.
    plain_details = json.loads(json.dumps(dict(details or {}), cls=TrailJSONEncoder, sort_keys=True))
    return Event(
        actor_type=actor.type,
        actor_id=actor.id,
        actor_label=actor.label,
        partner=partner,
        action=action,
        target_type=target._meta.label_lower if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        outcome=outcome,
        reason=reason,
        request_id=context.request_id,
        client_address=context.client_address,
        details=plain_details,
    )


def record(
    *,
    action: str,
    actor: Actor,
    partner: str = "",
    target: models.Model | None = None,
    outcome: str = Event.Outcome.SUCCESS,
    reason: str = "",
    details: Mapping[str, Any] | None = None,
    using: str = "default",
) -> Event:
    """Write one event in the caller's open transaction, so it commits (or rolls back) with the change.

    ``partner`` is the slug of the partner whose data the event concerns ("" for the host's own records);
    ``target`` is the record acted on. Request id and client address come from the request being served.
    """
    if not transaction.get_connection(using).in_atomic_block:
        raise OutsideTransactionError(
            f"audit.record({action!r}) must run inside transaction.atomic() with the change it records."
        )
    recorded = event(
        action=action, actor=actor, partner=partner, target=target, outcome=outcome, reason=reason, details=details
    )
    recorded.save(using=using)
    return recorded


_COLUMNS = [field for field in Event._meta.concrete_fields if not field.primary_key]
# Rows per INSERT statement: well under SQLite's limit of 32,766 parameters.
_ROWS_PER_STATEMENT = 1000


def record_standalone(events: Sequence[Event], *, using: str = "default") -> None:
    """Write events that stand for no change of their own (decisions) in one INSERT statement, committed by the
    time this returns.

    Outside a transaction the statement is its own transaction: one round trip to the database, where
    ``record()`` under ``transaction.atomic()`` takes three (BEGIN, INSERT, COMMIT); that difference is most of a
    decision's cost. Inside a transaction (a test's, say) it joins it, like record().
    """
    if not events:
        return
    connection = connections[using]
    with connection.cursor() as cursor:
        for start in range(0, len(events), _ROWS_PER_STATEMENT):
            chunk = events[start : start + _ROWS_PER_STATEMENT]
            params = [
                field.get_db_prep_save(getattr(recorded, field.attname), connection)
                for recorded in chunk
                for field in _COLUMNS
            ]
            cursor.execute(_insert(using, len(chunk)), params)


@functools.lru_cache(maxsize=64)
def _insert(using: str, rows: int) -> str:
    """INSERT for ``rows`` events with this database's quoting. Names come from the model, values are parameters."""
    quote = connections[using].ops.quote_name
    columns = ", ".join(quote(str(field.column)) for field in _COLUMNS)
    row = "(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"
    return f"INSERT INTO {quote(Event._meta.db_table)} ({columns}) VALUES {', '.join([row] * rows)}"  # noqa: S608
