"""Who may do what: the operation table, and the one function every write service asks.

Each write service names its operation with ``@performs(Operation.X)`` and takes one acting identity, ``by``: a
person or principal (``actor_for(user)``, which carries the user) or a named system actor (beat, tasks, the
operator's commands). The decorator refuses, before the service runs, anyone the table does not allow, with the
operation's refusal as the 403's message; views, APIs, commands and tasks never check roles themselves (a page
may ask ``may()`` whether to offer a button). What the table cannot know — which partner, whose token — each
app's access module adds inside the service.

This is the lowest app that knows roles, so charters' and governance's operations are listed here too. The trail's
own acts (exports, legal holds) are audit's, the app below this one, which keeps its rule in audit/access.py.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from django.core.exceptions import PermissionDenied

from accounts.roles import HOST_ROLES, PARTNER_ROLES, Role
from audit.context import current_confirmation
from audit.models import Event
from audit.trail import Actor

if TYPE_CHECKING:
    from accounts.models import User

P = ParamSpec("P")
R = TypeVar("R")


class Operation(StrEnum):
    HOST_ENSURE = "host.ensure"
    PARTNER_CREATE = "partner.create"
    PARTNER_ACCESS_END = "partner.access_end"
    PARTNER_ACCESS_RESTORE = "partner.access_restore"
    USER_CREATE = "user.create"
    USER_DEACTIVATE = "user.deactivate"
    OWN_ACCOUNT = "own_account.manage"
    FACTORS_RESET = "factors.reset"
    LOGIN_UNLOCK = "login.unlock"
    PRINCIPAL_MANAGE = "principal.manage"
    TOKEN_ISSUE = "token.issue"  # noqa: S105 - an operation's name, not a secret
    TOKEN_REVOKE = "token.revoke"  # noqa: S105 - an operation's name, not a secret
    TOKEN_NARROW = "token.narrow"  # noqa: S105 - an operation's name, not a secret
    TOKEN_ROTATE = "token.rotate"  # noqa: S105 - an operation's name, not a secret
    ASSET_REGISTER = "asset.register"
    CHARTER_WRITE = "charter.write"
    CHARTER_SUBMIT = "charter.submit"
    CHARTER_RETURN = "charter.return"
    CHARTER_APPROVE = "charter.approve"
    CHARTER_ACCEPT = "charter.accept"
    CHARTER_SUSPEND = "charter.suspend"
    CHARTER_RESUME = "charter.resume"
    CHARTER_END = "charter.end"
    CHARTER_TERMINATE = "charter.terminate"
    CHARTER_EXPIRE = "charter.expire"
    GRANT_REQUEST = "grant.request"
    GRANT_DECIDE = "grant.decide"
    GRANT_SUSPEND = "grant.suspend"
    GRANT_RESUME = "grant.resume"
    GRANT_REVOKE = "grant.revoke"
    GRANT_EXPIRE = "grant.expire"
    GRANT_HOLD = "grant.hold"
    PARTNER_ROLE_MANAGE = "partner_role.manage"
    REVIEW_START = "review.start"
    REVIEW_ANSWER = "review.answer"
    REVIEW_CLOSE = "review.close"
    INCIDENT_DECLARE = "incident.declare"
    INCIDENT_RUN = "incident.run"
    INCIDENT_STEP_ANSWER = "incident.step_answer"
    EXIT_START = "exit.start"
    EXIT_CONFIRM = "exit.confirm"
    EXIT_ATTEST = "exit.attest"
    ARTEFACT_STORE = "artefact.store"
    KEY_DESTROY = "key.destroy"
    KEY_DESTROY_NOW = "key.destroy_now"
    PROPOSAL = "proposal.manage"
    POLICY_ROLLBACK = "policy.rollback"
    WHATIF_RUN = "whatif.run"


O = Operation  # noqa: E741 - the table below reads better with a short name

# The table. Officers run the collaboration; auditors read, and run what-ifs; a partner admin acts for their own
# partner only (their access module checks which).
# fmt: off
ROLE_OPERATIONS: Mapping[Role, frozenset[Operation]] = {
    Role.OFFICER: frozenset(
        {
            O.PARTNER_CREATE, O.USER_CREATE, O.USER_DEACTIVATE, O.OWN_ACCOUNT, O.FACTORS_RESET, O.LOGIN_UNLOCK,
            O.PRINCIPAL_MANAGE,
            O.TOKEN_ISSUE, O.TOKEN_REVOKE, O.TOKEN_ROTATE,
            O.ASSET_REGISTER, O.CHARTER_WRITE, O.CHARTER_SUBMIT, O.CHARTER_RETURN,
            O.CHARTER_APPROVE, O.CHARTER_SUSPEND, O.CHARTER_RESUME, O.CHARTER_END, O.GRANT_DECIDE, O.GRANT_SUSPEND,
            O.GRANT_RESUME, O.GRANT_REVOKE, O.GRANT_HOLD, O.REVIEW_START, O.REVIEW_ANSWER, O.REVIEW_CLOSE,
            O.INCIDENT_DECLARE, O.INCIDENT_RUN, O.EXIT_START, O.EXIT_CONFIRM, O.ARTEFACT_STORE, O.KEY_DESTROY,
            O.KEY_DESTROY_NOW, O.POLICY_ROLLBACK, O.WHATIF_RUN, O.PROPOSAL,
        }
    ),
    Role.AUDITOR: frozenset({O.OWN_ACCOUNT, O.TOKEN_ISSUE, O.TOKEN_REVOKE, O.TOKEN_ROTATE, O.WHATIF_RUN}),
    Role.PARTNER_ADMIN: frozenset(
        {
            O.OWN_ACCOUNT, O.TOKEN_ISSUE, O.TOKEN_REVOKE, O.TOKEN_ROTATE, O.CHARTER_ACCEPT, O.GRANT_REQUEST,
            O.PARTNER_ROLE_MANAGE, O.EXIT_ATTEST, O.PRINCIPAL_MANAGE, O.INCIDENT_STEP_ANSWER,
        }
    ),
    Role.PARTNER_PRINCIPAL: frozenset(),  # principals only ask the decision point, which is not a write
}
# fmt: on

# Named system actors: each does only its own job. The operator's commands (``manage.py ...``) and the demo seed
# run with the database's own credentials, so the table cannot hold them back: they may do everything.
EVERYTHING = frozenset(Operation)
SYSTEM_OPERATIONS: Mapping[str, frozenset[Operation]] = {
    "expiry": frozenset({O.GRANT_EXPIRE, O.GRANT_DECIDE, O.CHARTER_EXPIRE}),
    "access-reviews": frozenset({O.REVIEW_START, O.REVIEW_CLOSE, O.GRANT_REVOKE}),
    "anomaly-checks": frozenset({O.GRANT_SUSPEND, O.INCIDENT_DECLARE}),
    "incident-playbook": frozenset({O.GRANT_SUSPEND, O.GRANT_HOLD, O.TOKEN_NARROW, O.INCIDENT_RUN}),
    "exit": frozenset(
        {
            O.CHARTER_TERMINATE,
            O.GRANT_REVOKE,
            O.KEY_DESTROY,
            O.PARTNER_ACCESS_END,
            O.TOKEN_NARROW,
            O.TOKEN_REVOKE,
            O.EXIT_CONFIRM,
        }
    ),
    "destruction": frozenset({O.KEY_DESTROY}),
    "charter-approval": frozenset({O.PARTNER_ACCESS_RESTORE}),
    "seed_demo": EVERYTHING,
    # `manage.py policy test` builds each case's world in a transaction it always rolls back.
    "policy-test": EVERYTHING,
}
OPERATOR_PREFIX = "manage.py "

# What a refused person is told: the rule, in the words of the page that offers the act.
REFUSALS: Mapping[Operation, str] = {
    O.HOST_ENSURE: "Only the operator sets up the host organisation.",
    O.PARTNER_CREATE: "Only governance officers add partners.",
    O.PARTNER_ACCESS_END: "A partner's access ends only with its exit.",
    O.PARTNER_ACCESS_RESTORE: "A partner's access is restored only by a new charter.",
    O.USER_CREATE: "Only governance officers add people.",
    O.USER_DEACTIVATE: "Only governance officers deactivate people.",
    O.OWN_ACCOUNT: "Principals have no web login, factors or sessions.",
    O.FACTORS_RESET: "Only a governance officer resets another person's factors.",
    O.LOGIN_UNLOCK: "Only governance officers unlock logins.",
    O.PRINCIPAL_MANAGE: "Partner admins manage their partner's principals (officers: every partner's).",
    O.TOKEN_ISSUE: "Principals cannot issue API tokens.",
    O.TOKEN_REVOKE: "Principals cannot revoke API tokens.",
    O.TOKEN_NARROW: "Tokens are narrowed only by incidents and exits.",
    O.TOKEN_ROTATE: "You cannot rotate API tokens.",
    O.ASSET_REGISTER: "Only governance officers register assets and their versions.",
    O.CHARTER_WRITE: "Only governance officers write and approve charters.",
    O.CHARTER_SUBMIT: "Only governance officers write and approve charters.",
    O.CHARTER_RETURN: "Only governance officers write and approve charters.",
    O.CHARTER_APPROVE: "Only a governance officer approves charter versions.",
    O.CHARTER_ACCEPT: "Only the partner's admins accept its charter.",
    O.CHARTER_SUSPEND: "Only governance officers suspend charters.",
    O.CHARTER_RESUME: "Only governance officers resume charters.",
    O.CHARTER_END: "Only governance officers terminate charters.",
    O.CHARTER_TERMINATE: "A charter is terminated by ending it, which runs its exit: grants never outlive it.",
    O.CHARTER_EXPIRE: "Charters expire on their last day, by themselves.",
    O.GRANT_REQUEST: "Partner admins request grants for their principals.",
    O.GRANT_DECIDE: "Only governance officers decide on grants.",
    O.GRANT_SUSPEND: "Only governance officers decide on grants.",
    O.GRANT_RESUME: "Only governance officers decide on grants.",
    O.GRANT_REVOKE: "Only governance officers decide on grants.",
    O.GRANT_EXPIRE: "Grants expire at the end of their window, by themselves.",
    O.GRANT_HOLD: "Only incidents hold and release grants.",
    O.PARTNER_ROLE_MANAGE: "Partner admins manage their partner's roles.",
    O.REVIEW_START: "Only governance officers start access reviews.",
    O.REVIEW_ANSWER: "Only a governance officer answers access reviews.",
    O.REVIEW_CLOSE: "Only a governance officer closes an access review.",
    O.INCIDENT_DECLARE: "Only governance officers declare incidents.",
    O.INCIDENT_RUN: "Only governance officers run incidents.",
    O.INCIDENT_STEP_ANSWER: "A partner's admins answer the incident steps their partner owns.",
    O.EXIT_START: "Only governance officers run exits and destructions.",
    O.EXIT_CONFIRM: "Only governance officers run exits and destructions.",
    O.EXIT_ATTEST: "Only the partner's admins attest destruction.",
    O.ARTEFACT_STORE: "Only governance officers store artefacts.",
    O.KEY_DESTROY: "Only governance officers run exits and destructions.",
    O.KEY_DESTROY_NOW: "Only governance officers run exits and destructions.",
    O.PROPOSAL: "Only governance officers propose and confirm irreversible acts.",
    O.POLICY_ROLLBACK: "Only a governance officer rolls the policy back.",
    O.WHATIF_RUN: "What-if replays read every partner's decisions: the host's staff run them.",
}

# Four eyes: what a person does only as the second officer confirming another's proposal (accounts.proposals),
# by the kind of proposal that allows it. Ending a charter runs its exit, so that kind allows both. System actors
# (the exit's run, the operator's commands) are not held back: they act on what people already decided.
FOUR_EYES: Mapping[str, frozenset[Operation]] = {
    "charter_end": frozenset({O.CHARTER_END, O.EXIT_START}),
    "policy_rollback": frozenset({O.POLICY_ROLLBACK}),
    "key_destroy_now": frozenset({O.KEY_DESTROY_NOW}),
    "factors_reset": frozenset({O.FACTORS_RESET}),
}
NEEDS_SECOND_OFFICER = frozenset().union(*FOUR_EYES.values())
SECOND_OFFICER_REFUSAL = (
    "This act needs two officers: propose it (with your reason) and another officer confirms the proposal."
)

# Every service that names an operation, by its dotted name: the service x role test walks this.
SERVICES: dict[str, Operation] = {}


def roles_of(user: User) -> frozenset[Role]:
    """The roles that count: host roles only in the host organisation, partner roles only in a partner."""
    if not user.is_active:
        return frozenset()
    allowed = HOST_ROLES if user.organisation.is_host else PARTNER_ROLES
    return frozenset(Role(name) for name in user.roles if name in allowed)


def system_operations(name: str) -> frozenset[Operation]:
    if name.startswith(OPERATOR_PREFIX):
        return EVERYTHING
    return SYSTEM_OPERATIONS.get(name, frozenset())


def may(by: Actor | User, operation: Operation) -> bool:
    """Whether ``by`` (an actor or, for pages deciding what to offer, a user) may perform ``operation``."""
    if not isinstance(by, Actor):
        return any(operation in ROLE_OPERATIONS[role] for role in roles_of(by))
    if by.type == Event.ActorType.SYSTEM:
        return operation in system_operations(by.id)
    return by.user is not None and may(by.user, operation)


def authorize(by: Actor, operation: Operation) -> None:
    """PermissionDenied with the operation's refusal unless ``by`` may perform it."""
    if not may(by, operation):
        raise PermissionDenied(REFUSALS[operation])
    if operation in NEEDS_SECOND_OFFICER and by.type != Event.ActorType.SYSTEM:
        confirmation = current_confirmation()
        if confirmation is None or operation not in FOUR_EYES.get(confirmation.kind, frozenset()):
            raise PermissionDenied(SECOND_OFFICER_REFUSAL)


def performs(operation: Operation) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Mark a write service with its operation: ``by`` (a keyword argument) is authorized before it runs."""

    def decorate(service: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(service)
        def authorized(*args: P.args, **kwargs: P.kwargs) -> R:
            authorize(kwargs["by"], operation)  # type: ignore[arg-type]
            return service(*args, **kwargs)

        SERVICES[f"{service.__module__}.{service.__qualname__}"] = operation
        authorized.operation = operation  # type: ignore[attr-defined]
        return authorized

    return decorate


def person(by: Actor) -> User:
    """The person or principal behind ``by``; PermissionDenied for a system actor, for acts only people do."""
    if by.user is None:
        raise PermissionDenied(f"{by.label} is not a person: only people do this.")
    return by.user


def person_or_none(by: Actor) -> User | None:
    """The user behind ``by``, or None for a system actor (a service records who, when a person acted)."""
    return by.user


def operations_table() -> dict[str, list[str]]:
    """The table as plain data, role by role, for the docs and the test."""
    return {role.value: sorted(ops) for role, ops in ROLE_OPERATIONS.items()}
