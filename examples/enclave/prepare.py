"""Accord's side of the enclave example (issue 26): what an attested enclave needs, made with Accord's own services,
and the files the enclave reads.

    DJANGO_SETTINGS_MODULE=accord.settings .venv/bin/python examples/enclave/prepare.py --out var/enclave-example

In the folder given by --out it writes:

- ``verifier-key.pem`` (0600), the private key of a local test verifier that stands in for Microsoft Azure
  Attestation (kept when the folder has one already), ``verifier-jwks.json`` its public key, and
  ``verifiers.yaml`` naming it ``enclave-example`` (kind azure). Start Accord with
  ACCORD_ATTESTATION_VERIFIERS_FILE pointing at that file: the charter names the verifier, and Accord trusts only
  the verifiers its file lists.
- ``token`` (0600), the lab's gateway principal's API token (scope decide). It is never printed.
- ``example.json``, what enclave.py reads: Accord's URL, the asset, the verifier, the image's measurement, the files.

In Accord's database: two officers, the partner Enclave Example Lab with an admin and a gateway principal, the model
``enclave-example-linear 1.0`` (a tiny linear model, stored encrypted as the asset version's file), the measurement
allow-list ``enclave-example-images`` holding the example image's SEV-SNP launch measurement, the charter
``charter.yaml`` (infer needs an attested enclave) approved and accepted, and a grant for the gateway. Each is
looked up first and made only when missing, all in one transaction: a second run changes nothing in the database
but the token, which it rotates (the old one stops working).

Refused with ACCORD_ENV=production: anyone who can read the folder could sign evidence as the test verifier.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: Accord's modules are found from the repository's root
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accord.settings")
    import django

    django.setup()

import jwt
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from accounts.models import ApiToken, Organisation, Partner, User
from accounts.roles import Role
from accounts.services import (
    actor_for,
    api_token_issue,
    api_token_rotate,
    host_organisation_ensure,
    partner_create,
    user_create,
)
from audit.trail import Actor
from charters import documents
from charters.models import Asset, AssetVersion, Charter, CharterVersion
from charters.services import (
    asset_register,
    asset_version_register,
    charter_acknowledge,
    charter_apply,
    charter_version_approve,
    charter_version_submit,
)
from charters.services.charters import required_trainings
from charters.terms import terms_of
from governance.attestation.evidence import measurement_digest
from governance.attestation.measurements import measurement_add, measurement_list_create
from governance.grants.services import grant_approve, grant_request
from governance.models import Artefact, Grant, MeasurementList
from governance.vault.artefacts import artefact_store

HERE = Path(__file__).resolve().parent
CHARTER_FILE = HERE / "charter.yaml"

# The trail names the operator's own commands "manage.py <what>", and the operation table lets them do everything:
# prepare is one, run with the database's credentials. It only sets up the people; they do the rest.
OPERATOR = Actor.system("manage.py enclave-example")

VERIFIER = "enclave-example"
# The local verifier's issuer: .invalid, so that nobody mistakes it for a real attestation service.
ISSUER = "https://enclave-example.local-verifier.invalid"
CHARTER = "enclave-example"
PURPOSE = "enclave-inference"
ACTION = "infer"
ALLOW_LIST = "enclave-example-images"
ASSET, LABEL = "enclave-example-linear", "1.0"
MODEL_FILE = "model.json"
TOKEN_NAME = "enclave-example"  # noqa: S105 (the name shown in token lists)

# The example enclave image's SEV-SNP launch measurement (a SHA-384, as the platform reports it). A real image's
# comes from its build (docs/enclave-guide.md says how); this one is simply what enclave.py claims to run.
IMAGE_MEASUREMENT = hashlib.sha384(b"accord enclave example image 1.0").hexdigest()

# The model: y = W x + b, three inputs and two outputs. Its bytes are the asset version's file, and their SHA-256 is
# the version's fingerprint.
MODEL: Mapping[str, Any] = {
    "format": "accord-example-linear/1",
    "inputs": ["x0", "x1", "x2"],
    "outputs": ["y0", "y1"],
    "weights": [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]],
    "bias": [0.1, -0.2],
}
MODEL_BYTES = (json.dumps(MODEL, indent=2, sort_keys=True) + "\n").encode()

# (username, full name, role): the host's two officers (a charter needs a second one to approve it), then the lab's.
HOST_PEOPLE = [
    ("enclave-officer", "Example Officer", Role.OFFICER),
    ("enclave-approver", "Example Approver", Role.OFFICER),
]
PARTNER_SLUG, PARTNER_NAME = "enclave-lab", "Enclave Example Lab"
ADMIN, GATEWAY = "enclave-lab-admin", "enclave-lab-gateway"


class PreparationRefusedError(Exception):
    """prepare cannot go on; the message says why and what to do."""


@dataclass
class Prepared:
    """What a run made (``created``, in words) and where its files are."""

    out: Path
    example: dict[str, Any]
    created: list[str] = field(default_factory=list)

    @property
    def example_file(self) -> Path:
        return self.out / "example.json"

    @property
    def verifiers_file(self) -> Path:
        return self.out / "verifiers.yaml"

    @property
    def token_file(self) -> Path:
        return self.out / "token"


# --- Files ----------------------------------------------------------------------------------------------------


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    if not private:
        path.write_bytes(data)
        return
    # Created 0600, never readable by others even for a moment; an older file keeps its inode but not its mode.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as written:
        written.write(data)
    os.chmod(path, 0o600)


def _thumbprint(public: Mapping[str, Any]) -> str:
    """The RFC 7638 thumbprint of an RSA JWK: SHA-256 of its required members, as canonical JSON."""
    canonical = json.dumps({name: public[name] for name in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _verifier_key(out: Path, prepared: Prepared) -> rsa.RSAPrivateKey:
    path = out / "verifier-key.pem"
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise PreparationRefusedError(f"{path} holds no RSA private key: remove it, and run prepare again.")
        return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    _write(path, pem, private=True)
    prepared.created.append(f"local test verifier key {path.name}")
    return key


def verifier_files(out: Path, prepared: Prepared) -> dict[str, Any]:
    """The local test verifier: its key (kept when there is one), its JWKS and the verifiers file naming it. The
    example's ``verifier`` entry."""
    key = _verifier_key(out, prepared)
    public = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    kid = f"{VERIFIER}-{_thumbprint(public)[:12]}"
    keys = {"keys": [{**public, "kid": kid, "alg": "RS256", "use": "sig"}]}
    _write(out / "verifier-jwks.json", (json.dumps(keys, indent=2) + "\n").encode())
    entries = [{"name": VERIFIER, "kind": "azure", "issuer": ISSUER, "jwks_file": "verifier-jwks.json"}]
    _write(out / "verifiers.yaml", yaml.safe_dump(entries, sort_keys=False).encode())
    return {"name": VERIFIER, "kind": "azure", "issuer": ISSUER, "kid": kid, "private_key_file": "verifier-key.pem"}


# --- Accord's side ----------------------------------------------------------------------------------------------


def _user(
    prepared: Prepared, *, username: str, full_name: str, role: Role, organisation: Organisation, by: Actor
) -> User:
    user = User.objects.filter(username=username).select_related("organisation").first()
    if user is None:
        user = user_create(username=username, organisation=organisation, role=role, by=by, full_name=full_name)
        prepared.created.append(f"{role.label.lower()} {username}")
    elif user.organisation_id != organisation.pk or role.value not in user.roles:
        raise PreparationRefusedError(
            f"A user named {username} exists already, but not as {role.label.lower()} of {organisation.name}: "
            "prepare makes people of its own. Run it on another database (or rename that user)."
        )
    return user


@dataclass(frozen=True)
class Cast:
    """Who does what: the officers write and approve, the lab's admin accepts and asks, the gateway attests."""

    host: Organisation
    officer: User
    approver: User
    partner: Partner
    admin: User
    gateway: User


def _cast(prepared: Prepared) -> Cast:
    host = host_organisation_ensure(name=settings.ACCORD_HOST_ORGANISATION, by=OPERATOR)
    officer, approver = (
        _user(prepared, username=username, full_name=name, role=role, organisation=host, by=OPERATOR)
        for username, name, role in HOST_PEOPLE
    )
    partner = Partner.objects.filter(slug=PARTNER_SLUG).first()
    if partner is None:
        partner = partner_create(name=PARTNER_NAME, slug=PARTNER_SLUG, by=actor_for(officer))
        prepared.created.append(f"partner {PARTNER_NAME}")
    by = actor_for(officer)
    admin = _user(
        prepared, username=ADMIN, full_name="Example Lab Admin", role=Role.PARTNER_ADMIN, organisation=partner, by=by
    )
    gateway = _user(prepared, username=GATEWAY, full_name="", role=Role.PARTNER_PRINCIPAL, organisation=partner, by=by)
    return Cast(host=host, officer=officer, approver=approver, partner=partner, admin=admin, gateway=gateway)


def _model(prepared: Prepared, cast: Cast) -> AssetVersion:
    """The model, registered and stored encrypted as its version's file."""
    by, host = actor_for(cast.officer), cast.host
    asset = Asset.objects.filter(owner=host, name=ASSET).first()
    if asset is None:
        asset = asset_register(
            name=ASSET, kind=Asset.Kind.MODEL, owner=host, description="The enclave example's linear model.", by=by
        )
        prepared.created.append(f"asset {ASSET}")
    version = AssetVersion.objects.filter(asset=asset, label=LABEL).first()
    if version is None:
        version = asset_version_register(
            asset=asset,
            label=LABEL,
            fingerprint=hashlib.sha256(MODEL_BYTES).hexdigest(),
            size_bytes=len(MODEL_BYTES),
            classification=AssetVersion.Classification.SHAREABLE,
            storage_uri=f"accord-artefacts://{ASSET}/{LABEL}/{MODEL_FILE}",
            by=by,
        )
        prepared.created.append(f"version {ASSET} {LABEL}")
    stored = Artefact.objects.filter(asset_version=version, kind=Artefact.Kind.ASSET_FILE, name=MODEL_FILE)
    if not stored.exists():
        artefact_store(
            source=io.BytesIO(MODEL_BYTES),
            name=MODEL_FILE,
            kind=Artefact.Kind.ASSET_FILE,
            asset_version=version,
            by=by,
        )
        prepared.created.append(f"encrypted file {MODEL_FILE} of {ASSET} {LABEL}")
    return version


def _allow_list(prepared: Prepared, officer: User) -> None:
    allow_list = MeasurementList.objects.filter(name=ALLOW_LIST).first()
    if allow_list is None:
        allow_list = measurement_list_create(officer=officer, name=ALLOW_LIST, title="The enclave example's images")
        prepared.created.append(f"measurement allow-list {ALLOW_LIST}")
    values = {"launch_measurement": IMAGE_MEASUREMENT}
    listed = allow_list.entries.filter(digest=measurement_digest("snp", values), removed_at__isnull=True)
    if not listed.exists():
        measurement_add(
            officer=officer, allow_list=allow_list, platform="snp", values=values, note="the example enclave's image"
        )
        prepared.created.append(f"the example image's launch measurement on {ALLOW_LIST}")


def _charter(prepared: Prepared, cast: Cast) -> CharterVersion:
    """The example charter, valid from the first of this month for as long as the file says, approved and
    accepted."""
    charter = Charter.objects.filter(slug=CHARTER).select_related("active_version").first()
    if charter is not None:
        if charter.active_version is None:
            raise PreparationRefusedError(
                f"Charter {CHARTER} exists but has no active version: approve its version in review, or run prepare "
                "on another database."
            )
        return charter.active_version
    document = documents.parse(CHARTER_FILE.read_text(encoding="utf-8"), source=CHARTER_FILE.name).data
    starts = timezone.now().date().replace(day=1)
    length = documents.parse_date(document["validity"]["until"]) - documents.parse_date(document["validity"]["from"])
    document["validity"] = {"from": starts.isoformat(), "until": (starts + length).isoformat()}
    author = actor_for(cast.officer)
    version = charter_apply(text=documents.to_yaml(document), source=CHARTER_FILE.name, by=author)
    if version is None:  # only for a document equal to the current version, and there is none
        raise PreparationRefusedError(f"Charter {CHARTER} was not written.")
    charter_version_submit(version=version, by=author)
    version = charter_version_approve(version=version, by=actor_for(cast.approver))
    charter_acknowledge(
        version=version,
        trainings_confirmed=[training["name"] for training in required_trainings(version)],
        by=actor_for(cast.admin),
    )
    prepared.created.append(f"charter {CHARTER} (active, accepted by {cast.admin.username})")
    return version


def _grant(prepared: Prepared, cast: Cast, version: CharterVersion, model: AssetVersion) -> None:
    if Grant.objects.filter(principal=cast.gateway, asset_version=model, status=Grant.Status.ACTIVE).exists():
        return
    window = terms_of(version).window
    grant = grant_request(
        partner=cast.partner,
        asset_version=model,
        principal=cast.gateway,
        actions=[ACTION],
        purposes=[PURPOSE],
        valid_from=window.starts,
        valid_until=window.ends,
        daily_quota=1000,
        monthly_quota=10_000,
        rate_per_minute=120,
        justification="The enclave example serves inferences of the example model from an attested enclave.",
        requires_attestation=True,
        by=actor_for(cast.admin),
    )
    grant_approve(grant=grant, by=actor_for(cast.approver))
    prepared.created.append(f"grant #{grant.pk} for {cast.gateway.username}")


def _token(cast: Cast) -> str:
    """The gateway's example token, issued by the lab's admin the first time (scope decide), rotated in place
    after."""
    by = actor_for(cast.admin)
    token = ApiToken.objects.filter(user=cast.gateway, name=TOKEN_NAME).order_by("id").first()
    if token is None:
        _, raw = api_token_issue(user=cast.gateway, name=TOKEN_NAME, scopes=["decide"], by=by)
    else:
        _, raw = api_token_rotate(token=token, by=by)
    return raw


def prepare(*, out: Path, accord_url: str) -> Prepared:
    """Make everything the example enclave needs in Accord's database and in ``out``; see the module's docstring."""
    if settings.PRODUCTION:
        raise PreparationRefusedError(
            "prepare refuses to run with ACCORD_ENV=production: its test verifier's private key is a file, and "
            "evidence signed with it would open real keys. Real enclaves attest with a real verifier "
            "(docs/enclave-guide.md)."
        )
    out.mkdir(parents=True, exist_ok=True)
    prepared = Prepared(out=out, example={})
    verifier = verifier_files(out, prepared)
    # The charter's guardrails accept only configured verifiers: configured here, for this run, as the README
    # tells the operator to configure the server.
    with override_settings(ACCORD_ATTESTATION_VERIFIERS_FILE=prepared.verifiers_file), transaction.atomic():
        cast = _cast(prepared)
        model = _model(prepared, cast)
        _allow_list(prepared, cast.officer)
        version = _charter(prepared, cast)
        _grant(prepared, cast, version, model)
        token = _token(cast)
    _write(prepared.token_file, token.encode() + b"\n", private=True)
    prepared.example = {
        "accord_url": accord_url.rstrip("/"),
        "asset": model.fingerprint,
        "action": ACTION,
        "purpose": PURPOSE,
        "verifier": verifier,
        "measurement": {"platform": "snp", "launch_measurement": IMAGE_MEASUREMENT},
        "token_file": prepared.token_file.name,
        "model": {"name": MODEL_FILE, "sha256": model.fingerprint, "size_bytes": len(MODEL_BYTES)},
    }
    _write(prepared.example_file, (json.dumps(prepared.example, indent=2) + "\n").encode())
    return prepared


# --- The command ------------------------------------------------------------------------------------------------


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="prepare.py",
        description="Make what the example enclave needs on Accord's side (a local test verifier, a measurement "
        "allow-list, a charter whose infer needs attestation, a grant, the gateway's token and the encrypted "
        "model), and write the files enclave.py reads into --out.",
        epilog="Then start Accord with ACCORD_ATTESTATION_VERIFIERS_FILE=OUT/verifiers.yaml, and run "
        "examples/enclave/enclave.py --example OUT/example.json. Refused with ACCORD_ENV=production.",
    )
    parser.add_argument("--out", type=Path, required=True, help="the folder for the example's files (made if needed)")
    parser.add_argument(
        "--accord-url",
        help="the address the enclave reaches Accord at (default: ACCORD_PUBLIC_URL, http://localhost:8000 in "
        "development)",
    )
    return parser.parse_args(argv)


def say(line: str, *, error: bool = False) -> None:
    print(line, file=sys.stderr if error else sys.stdout, flush=True)


def main(argv: list[str] | None = None) -> int:
    options = arguments(argv)
    out = options.out.resolve()
    try:
        prepared = prepare(out=out, accord_url=options.accord_url or settings.ACCORD_PUBLIC_URL)
    except (PreparationRefusedError, PermissionDenied) as refused:
        say(f"prepare.py: {refused}", error=True)
        return 1
    except ValidationError as refused:  # a service refused, and the transaction wrote nothing
        say(f"prepare.py: refused, nothing changed in the database: {'; '.join(refused.messages)}", error=True)
        return 1
    for made in prepared.created or ["nothing new: everything was there already"]:
        say(f"made: {made}")
    say(f"token: the gateway's token (scope decide) is in {prepared.token_file} (0600); a new one each run")
    say(f"wrote: {prepared.example_file}")
    say(f"next: start Accord with ACCORD_ATTESTATION_VERIFIERS_FILE={prepared.verifiers_file}")
    say(f"next: .venv/bin/python examples/enclave/enclave.py --example {prepared.example_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
