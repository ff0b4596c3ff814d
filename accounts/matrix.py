"""The authorization matrix: for every address Accord answers, by URL name and method, who may call it.

One table, read by the API's permission class (accounts/permissions.py) and the pages' middleware
(accounts/middleware.py) before any view runs, and iterated by the tests (tests/accounts/test_matrix.py), which
fail when a URL pattern has no entry. A cell is an operation of the operation table (accounts/operations.py), so
the roles it allows are the table's, or an audience for what reads rather than writes. A refused caller gets a 403
with the refusal, except a partner's people at an address that names an object: a 404, as for an object that is
not there (``hidden_from``). The services still ask the operation table themselves and each app's access module
still scopes objects to the caller's partner: the matrix refuses a caller who could never use an address, the
access modules hide another partner's objects (a 404 too).

An API entry also names the token scopes that reach it (accounts/scopes.py; ``manage`` when it names none).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied
from django.http import Http404

from accounts.operations import REFUSALS, ROLE_OPERATIONS, Operation, may
from accounts.roles import HOST_ROLES, Role
from accounts.scopes import Scope

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from accounts.models import User


class Audience(StrEnum):
    """Who may read an address that performs no operation."""

    ANYONE = "anyone"  # no sign-in: the login, health, the schema and its docs, the trail's public key
    SIGNED_IN = "signed in"  # any person or principal
    PERSON = "person"  # any person (principals have no pages, sessions or management API)
    PRINCIPAL = "principal"  # a partner's principal: the decision point
    HOST = "host"  # the host's officers and auditors
    OFFICER = "officer"  # the host's governance officers
    PARTNER_ADMIN = "partner admin"  # a partner's admins: their portal
    ADMIN_SITE = "admin site"  # the Django admin, which checks its own staff flag behind Accord's login


@dataclass(frozen=True)
class ByStep:
    """The operation a step endpoint performs, by the step its URL names (``param``). An unknown step is a 404."""

    param: str
    operations: Mapping[str, Operation]


Rule = Operation | Audience | ByStep


@dataclass(frozen=True)
class Access:
    """One address: the rule for each method it answers, the scopes that reach it with a token, and what it holds
    (``what``, for the refusal: "Incidents are for the host's officers and auditors.")."""

    methods: Mapping[str, Rule]
    scopes: frozenset[Scope] = field(default=frozenset({Scope.MANAGE}))
    what: str = "These pages"
    names: str = ""  # the kind of object its URL names ("grant"), for the 404 rule and the cross-tenant tests


def _a(
    what: str = "These pages", scopes: tuple[Scope, ...] = (Scope.MANAGE,), names: str = "", **methods: Rule
) -> Access:
    return Access(methods=methods, scopes=frozenset(scopes), what=what, names=names)


A, O, S = Audience, Operation, Scope  # noqa: E741 - the table below reads better with short names
ALL_SCOPES = tuple(Scope)
EXIT_OR_MANAGE = (S.EXIT, S.MANAGE)
READ_AUDIT = (S.READ_AUDIT,)
CHARTER_VERSION_STEPS = ByStep(
    "step", {"submit": O.CHARTER_SUBMIT, "return": O.CHARTER_RETURN, "approve": O.CHARTER_APPROVE}
)
CHARTER_STEPS = ByStep("step", {"suspend": O.CHARTER_SUSPEND, "resume": O.CHARTER_RESUME})
GRANT_STEPS = ByStep(
    "step",
    {
        "approve": O.GRANT_DECIDE,
        "refuse": O.GRANT_DECIDE,
        "suspend": O.GRANT_SUSPEND,
        "resume": O.GRANT_RESUME,
        "revoke": O.GRANT_REVOKE,
    },
)

# fmt: off
MATRIX: Mapping[str, Access] = {
    # --- Signing in, one's own account, people and tokens (accounts) -----------------------------------------
    "login": _a(GET=A.ANYONE, POST=A.ANYONE),
    "logout": _a(POST=A.ANYONE),
    "healthz": _a(GET=A.ANYONE),
    "admin-login": _a(GET=A.ANYONE),
    # A passkey is only ever a second factor, after the password: the ceremony needs the half-signed-in person.
    "otp_webauthn:credential-authentication-begin": _a(POST=A.PERSON),
    "otp_webauthn:credential-authentication-complete": _a(POST=A.PERSON),
    "otp_webauthn:js-i18n-catalog": _a(GET=A.ANYONE),
    "otp_webauthn:credential-registration-begin": _a(POST=O.OWN_ACCOUNT),
    "otp_webauthn:credential-registration-complete": _a(POST=O.OWN_ACCOUNT),
    "home": _a(GET=A.PERSON),
    "accounts:verify": _a(GET=A.PERSON, POST=A.PERSON),
    "accounts:enrol": _a(GET=O.OWN_ACCOUNT, POST=O.OWN_ACCOUNT),
    "accounts:totp-qr": _a(GET=O.OWN_ACCOUNT),
    "accounts:recovery-codes": _a(GET=O.OWN_ACCOUNT, POST=O.OWN_ACCOUNT),
    "accounts:security": _a(GET=O.OWN_ACCOUNT),
    "accounts:factor-remove": _a(POST=O.OWN_ACCOUNT),
    "accounts:session-end": _a(names="own session", POST=O.OWN_ACCOUNT),
    "accounts:people": _a("People", GET=A.OFFICER),
    "accounts:login-unlock": _a(POST=O.LOGIN_UNLOCK),
    "accounts:person-deactivate": _a(names="person", POST=O.USER_DEACTIVATE),
    "accounts:factors-reset": _a(names="person", POST=O.FACTORS_RESET),
    "accounts:tokens": _a(GET=A.PERSON, POST=O.TOKEN_ISSUE),
    "accounts:token-revoke": _a(names="token", POST=O.TOKEN_REVOKE),
    "proposals:proposal-list": _a("Proposals", GET=A.HOST),
    "proposals:proposal-detail": _a("Proposals", names="proposal", GET=A.HOST),
    "proposals:proposal-confirm": _a(names="proposal", POST=O.PROPOSAL),
    "proposals:proposal-withdraw": _a(names="proposal", POST=O.PROPOSAL),
    "schema": _a(GET=A.ANYONE),
    "api-docs": _a(GET=A.ANYONE),
    "api:me": _a(scopes=ALL_SCOPES, GET=A.SIGNED_IN),
    "api:partner-list": _a(GET=A.PERSON),
    "api:login-unlock": _a(POST=O.LOGIN_UNLOCK),
    "api:person-deactivate": _a(names="person", POST=O.USER_DEACTIVATE),
    "api:principal-list": _a(GET=A.PERSON),
    "api:principal-create": _a(POST=O.PRINCIPAL_MANAGE),
    "api:principal-disable": _a(names="principal", POST=O.PRINCIPAL_MANAGE),
    "api:proposal-list": _a("Proposals", GET=A.HOST),
    "api:proposal-detail": _a("Proposals", names="proposal", GET=A.HOST),
    "api:proposal-create": _a(POST=O.PROPOSAL),
    "api:proposal-confirm": _a(names="proposal", POST=O.PROPOSAL),
    "api:proposal-withdraw": _a(names="proposal", POST=O.PROPOSAL),
    "api:token-list": _a(GET=A.PERSON),
    "api:token-issue": _a(POST=O.TOKEN_ISSUE),
    "api:token-revoke": _a(names="token", POST=O.TOKEN_REVOKE),
    # --- The registry and charters (charters) --------------------------------------------------------------
    "charters:asset-detail": _a(names="asset", GET=A.PERSON),
    "charters:asset-register": _a(GET=O.ASSET_REGISTER, POST=O.ASSET_REGISTER),
    "charters:asset-version-register": _a(names="asset", GET=O.ASSET_REGISTER, POST=O.ASSET_REGISTER),
    "charters:charter-list": _a(GET=A.PERSON),
    "charters:charter-new": _a(GET=O.CHARTER_WRITE, POST=O.CHARTER_WRITE),
    "charters:charter-detail": _a(names="charter", GET=A.PERSON),
    "charters:acknowledge": _a(names="charter", GET=O.CHARTER_ACCEPT, POST=O.CHARTER_ACCEPT),
    "charters:version-diff": _a(names="charter", GET=A.PERSON),
    "charters:version-detail": _a(names="charter version", GET=A.PERSON),
    "charters:version-edit": _a(names="charter version", GET=O.CHARTER_WRITE, POST=O.CHARTER_WRITE),
    "charters:version-transition": _a(
        names="charter version", POST=ByStep("transition", CHARTER_VERSION_STEPS.operations)
    ),
    "charters:charter-transition": _a(
        names="charter", POST=ByStep("transition", {**CHARTER_STEPS.operations, "amend": O.CHARTER_WRITE})
    ),
    "api:asset-list": _a(GET=A.PERSON),
    "api:asset-detail": _a(names="asset", GET=A.PERSON),
    "api:asset-register": _a(POST=O.ASSET_REGISTER),
    "api:asset-version-register": _a(names="asset", POST=O.ASSET_REGISTER),
    "api:charter-schema": _a(GET=A.ANYONE),
    "api:charter-list": _a(GET=A.PERSON),
    "api:charter-write": _a(POST=O.CHARTER_WRITE),
    "api:charter-acknowledge": _a(names="charter", POST=O.CHARTER_ACCEPT),
    "api:charter-version": _a(names="charter version", GET=A.PERSON),
    "api:charter-version-step": _a(names="charter version", POST=CHARTER_VERSION_STEPS),
    "api:charter-step": _a(names="charter", POST=CHARTER_STEPS),
    # --- Grants, decisions, policy (governance) --------------------------------------------------------------
    "grant-list": _a(GET=A.PERSON),
    "grant-request": _a(GET=O.GRANT_REQUEST, POST=O.GRANT_REQUEST),
    "grant-transition": _a(names="grant", POST=ByStep("transition", GRANT_STEPS.operations)),
    "api:grant-list": _a(scopes=(S.MANAGE, S.DECIDE), GET=A.SIGNED_IN),
    "api:grant-request": _a(POST=O.GRANT_REQUEST),
    "api:grant-transition": _a(names="grant", POST=GRANT_STEPS),
    "usage": _a("The usage charts", GET=A.PERSON),  # a partner admin's: their own partner's
    "timeliness": _a("The timeliness charts", GET=A.HOST),
    # --- The partner portal (governance/portal): a partner admin's own access ----------------------------------
    "portal": _a("The partner portal's pages", GET=A.PARTNER_ADMIN),
    "portal-incidents": _a("The partner portal's pages", GET=A.PARTNER_ADMIN),
    "portal-step-answer": _a(names="incident step", POST=O.INCIDENT_STEP_ANSWER),
    "portal-principals": _a("The partner portal's pages", GET=A.PARTNER_ADMIN),
    "portal-principal-create": _a(POST=O.PRINCIPAL_MANAGE),
    "portal-principal-disable": _a(names="principal", POST=O.PRINCIPAL_MANAGE),
    "portal-trail": _a("The partner portal's pages", GET=A.PARTNER_ADMIN),
    "portal-trail-export": _a("The partner portal's pages", POST=A.PARTNER_ADMIN),
    "api:usage": _a(GET=A.PERSON),
    "api:usage-quotas": _a(GET=A.PERSON),
    "api:role-list": _a(GET=A.PERSON),
    "api:role-create": _a(POST=O.PARTNER_ROLE_MANAGE),
    "api:role-members": _a(names="role", POST=O.PARTNER_ROLE_MANAGE),
    "api:decide": _a("Decisions", scopes=(S.DECIDE,), POST=A.PRINCIPAL),
    "api:decide-batch": _a("Decisions", scopes=(S.DECIDE,), POST=A.PRINCIPAL),
    "api:session-open": _a("Sessions", scopes=(S.DECIDE,), POST=A.PRINCIPAL),
    "api:attestation-nonce": _a("Attestation nonces", scopes=(S.DECIDE,), POST=A.PRINCIPAL),
    # Key release and the ciphertext are decisions: an unknown file is a deny like another partner's (no 404).
    "api:key-release": _a("Key release", scopes=(S.DECIDE,), POST=A.PRINCIPAL),
    "api:artefact-ciphertext": _a("Ciphertext for enclaves", scopes=(S.DECIDE,), GET=A.PRINCIPAL),
    "bundle-list": _a("Policy bundles", GET=A.HOST),
    "bundle-detail": _a("Policy bundles", names="bundle", GET=A.HOST),
    "bundle-diff": _a("Policy bundles", GET=A.HOST),
    "bundle-rollback": _a(names="bundle", GET=O.POLICY_ROLLBACK, POST=O.POLICY_ROLLBACK),
    "decision-explain": _a("Decision explanations", GET=A.HOST),
    "api:bundle-list": _a("Policy bundles", GET=A.HOST),
    "api:bundle-detail": _a("Policy bundles", names="bundle", GET=A.HOST),
    "api:bundle-diff": _a("Policy bundles", GET=A.HOST),
    "api:bundle-rollback": _a(names="bundle", POST=O.POLICY_ROLLBACK),
    "whatif-list": _a("What-if replays", GET=A.HOST, POST=O.WHATIF_RUN),
    "whatif-detail": _a("What-if replays", names="what-if", GET=A.HOST),
    # Measurement allow-lists are the host's: its auditors read them, its officers keep them (the services ask too).
    "measurement-lists": _a("Measurement allow-lists", GET=A.HOST, POST=A.OFFICER),
    "measurement-list": _a("Measurement allow-lists", names="measurement list", GET=A.HOST, POST=A.OFFICER),
    "measurement-remove": _a("Measurement allow-lists", names="measurement list", POST=A.OFFICER),
    # --- Reviews, incidents, exits, the vault (governance) -------------------------------------------------
    "review-list": _a("Access reviews", GET=A.HOST, POST=O.REVIEW_START),
    "review-detail": _a("Access reviews", names="review", GET=A.HOST, POST=O.REVIEW_ANSWER),
    "review-close": _a(names="review", POST=O.REVIEW_CLOSE),
    "review-report": _a("Access reviews", names="review", GET=A.HOST),
    "api:review-list": _a("Access reviews", GET=A.HOST),
    "api:review-detail": _a("Access reviews", names="review", GET=A.HOST),
    "api:review-start": _a(POST=O.REVIEW_START),
    "api:review-answer": _a(names="review", POST=O.REVIEW_ANSWER),
    "api:review-close": _a(names="review", POST=O.REVIEW_CLOSE),
    "incident-list": _a("Incidents", GET=A.HOST),
    "incident-detail": _a("Incidents", names="incident", GET=A.HOST),
    "incident-declare": _a(names="charter", POST=O.INCIDENT_DECLARE),
    "incident-step-done": _a(names="incident", POST=O.INCIDENT_RUN),
    "incident-close": _a(names="incident", POST=O.INCIDENT_RUN),
    "api:incident-list": _a("Incidents", GET=A.HOST),
    "api:incident-detail": _a("Incidents", names="incident", GET=A.HOST),
    "api:incident-declare": _a(POST=O.INCIDENT_DECLARE),
    "api:incident-step-done": _a(names="incident", POST=O.INCIDENT_RUN),
    "api:incident-close": _a(names="incident", POST=O.INCIDENT_RUN),
    "charter-terminate": _a(names="charter", POST=O.CHARTER_END),
    "exit-start": _a(names="charter", GET=O.EXIT_START, POST=O.EXIT_START),
    "exit-list": _a(GET=A.PERSON),
    "exit-detail": _a(names="exit", GET=A.PERSON),
    "exit-report": _a(names="exit", GET=A.PERSON),
    "exit-migrated": _a(names="exit", POST=O.EXIT_CONFIRM),
    "exit-attest": _a(names="exit", POST=O.EXIT_ATTEST),
    "certificate-detail": _a(names="certificate", GET=A.PERSON),
    "api:exit-list": _a(scopes=EXIT_OR_MANAGE, GET=A.PERSON),
    "api:exit-detail": _a(names="exit", scopes=EXIT_OR_MANAGE, GET=A.PERSON),
    "api:exit-report": _a(names="exit", scopes=EXIT_OR_MANAGE, GET=A.PERSON),
    "api:exit-attest": _a(names="exit", scopes=EXIT_OR_MANAGE, POST=O.EXIT_ATTEST),
    "api:exit-migrated": _a(names="exit", POST=O.EXIT_CONFIRM),
    "api:certificate": _a(names="certificate", scopes=EXIT_OR_MANAGE, GET=A.PERSON),
    "artefact-list": _a("Stored artefacts", GET=A.HOST, POST=O.ARTEFACT_STORE),
    "artefact-download": _a("Stored artefacts", names="artefact", GET=A.OFFICER),
    "key-destroy": _a(names="key", POST=O.KEY_DESTROY),
    "key-destroy-now": _a(names="key", POST=O.KEY_DESTROY_NOW),
    "key-cancel": _a(names="key", POST=O.KEY_DESTROY),
    "api:key-destroy": _a(names="key", POST=O.KEY_DESTROY),
    "api:key-cancel": _a(names="key", POST=O.KEY_DESTROY),
    # --- The trail (audit: which events each reader sees is audit/access.py's rule) ---------------------------
    # The pages are the host's; partner admins read and export their slice through the API.
    "audit:trail": _a("The trail's pages", GET=A.HOST),
    "audit:export-create": _a("The trail's pages", POST=A.HOST),
    "audit:export-download": _a(names="export", GET=A.PERSON),
    "api:audit-events": _a(scopes=READ_AUDIT, GET=A.PERSON),
    "api:audit-export": _a(scopes=READ_AUDIT, POST=A.PERSON),
    "api:audit-export-status": _a(names="export", scopes=READ_AUDIT, GET=A.PERSON),
    "api:audit-export-download": _a(names="export", scopes=READ_AUDIT, GET=A.PERSON),
    "api:audit-public-key": _a(GET=A.ANYONE),
}
# fmt: on

# Whole namespaces with one rule: the admin's pages check their own staff flag and permissions.
NAMESPACES: Mapping[str, Access] = {"admin": _a(GET=A.ADMIN_SITE, POST=A.ADMIN_SITE)}

AUDIENCE_REFUSALS: Mapping[Audience, str] = {
    A.PERSON: "Principals have no web login, pages or management API: use a person's account or token.",
    A.PRINCIPAL: "{what} are a principal's: ask with your principal's token.",
    A.HOST: "{what} are for the host's officers and auditors.",
    A.OFFICER: "{what} are for the host's governance officers.",
    A.PARTNER_ADMIN: "{what} are for a partner's admins: the host's people have their own pages.",
}


def url_patterns() -> Iterator[tuple[str, str]]:
    """Every URL pattern as (route, ``namespace:name``), the admin's included: what the matrix must cover, and what
    its printed table and the tests walk."""
    from django.urls import URLPattern, URLResolver, get_resolver

    def walk(patterns: list[Any], prefix: str, namespace: str) -> Iterator[tuple[str, str]]:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                inner = f"{namespace}:{pattern.namespace}" if namespace and pattern.namespace else pattern.namespace
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern), inner or namespace)
            elif isinstance(pattern, URLPattern):
                name = f"{namespace}:{pattern.name}" if namespace else (pattern.name or "")
                yield prefix + str(pattern.pattern), name

    yield from walk(get_resolver().url_patterns, "/", "")


def access_for(view_name: str | None) -> Access | None:
    """The matrix's entry for a URL name (``namespace:name``), or None when it has none (refused: fail closed)."""
    if not view_name:
        return None
    entry = MATRIX.get(view_name)
    if entry is None and ":" in view_name:
        entry = NAMESPACES.get(view_name.split(":", 1)[0])
    return entry


def may_open(user: User, view_name: str) -> bool:
    """Whether ``user`` may open the page at ``view_name`` (a GET naming no object): what a menu offers them."""
    entry = access_for(view_name)
    rule = entry.methods.get("GET") if entry else None
    return isinstance(rule, Operation | Audience) and allows(user, rule)


def rule_for(entry: Access, method: str) -> Rule | None:
    """The rule for ``method``; HEAD and OPTIONS read as GET where the address answers GET."""
    if method in ("HEAD", "OPTIONS") and "GET" in entry.methods:
        return entry.methods["GET"]
    return entry.methods.get(method)


def operation_of(rule: Rule, kwargs: Mapping[str, Any]) -> Operation | Audience:
    """A step rule's operation for the step the URL names; Http404 for a step that does not exist."""
    if isinstance(rule, ByStep):
        step = str(kwargs.get(rule.param, ""))
        if step not in rule.operations:
            raise Http404(f"There is no step {step!r}: the steps here are {', '.join(rule.operations)}.")
        return rule.operations[step]
    return rule


def allows(user: User | AnonymousUser, rule: Operation | Audience) -> bool:
    if rule == A.ANYONE or rule == A.ADMIN_SITE:
        return True
    if not user.is_authenticated:
        return False
    account: User = user
    if isinstance(rule, Operation):
        return may(account, rule)
    # One test each, asked only for its own audience: the decision path (PRINCIPAL) must not load roles.
    if rule == A.SIGNED_IN:
        return True
    if rule == A.PERSON:
        return not account.is_service
    if rule == A.PRINCIPAL:
        return account.is_service
    if rule == A.HOST:
        return account.is_host_member
    if rule == A.PARTNER_ADMIN:
        return account.is_partner_admin
    return rule == A.OFFICER and account.is_officer


# Whether a partner's person may see the object an address names, by its kind: registered by the app that owns
# the kind (its AppConfig.ready), since this app sits below them. A kind not registered here is the host's alone.
Visible = Callable[["User", Mapping[str, Any]], bool]
VISIBLE: dict[str, Visible] = {}


def visible_register(kind: str, visible: Visible) -> None:
    VISIBLE[kind] = visible


def found(lookup: Callable[[], object]) -> bool:
    """Whether a ``..._get_for_user`` lookup finds its object (they answer Http404 for what the caller may not see,
    or PermissionDenied for a caller who sees none of its kind)."""
    try:
        lookup()
    except (Http404, PermissionDenied):
        return False
    return True


def hidden_from(user: User | AnonymousUser, entry: Access, kwargs: Mapping[str, Any]) -> bool:
    """Whether a refusal is a 404 rather than a 403. For a partner's people, an object they cannot see (another
    partner's, or the host's) does not exist, so the refusal must not tell them it does: a 404, the answer for an
    object that is not there. Their own partner's objects, the host's staff, and addresses that name no object
    get the refusal itself."""
    if not entry.names or not user.is_authenticated or user.is_host_member:
        return False
    visible = VISIBLE.get(entry.names)
    return visible is None or not visible(user, kwargs)


def allows_role(role: Role, rule: Operation | Audience) -> bool:
    """The same rule read for a role rather than a person, for the printed matrix (``manage.py access_matrix``);
    tests/accounts/test_matrix.py checks that it agrees with ``allows`` for a person of each role."""
    if rule in (A.ANYONE, A.ADMIN_SITE, A.SIGNED_IN):
        return True
    if isinstance(rule, Operation):
        return rule in ROLE_OPERATIONS[role]
    return {
        A.PERSON: role != Role.PARTNER_PRINCIPAL,
        A.PRINCIPAL: role == Role.PARTNER_PRINCIPAL,
        A.HOST: role in HOST_ROLES,
        A.OFFICER: role == Role.OFFICER,
        A.PARTNER_ADMIN: role == Role.PARTNER_ADMIN,
    }[rule]


def refusal(entry: Access, rule: Operation | Audience) -> str:
    if isinstance(rule, Operation):
        return REFUSALS[rule]
    return AUDIENCE_REFUSALS.get(rule, "You may not use this address.").format(what=entry.what)
