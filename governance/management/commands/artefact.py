"""`manage.py artefact store | list | read | destroy | cancel`: the encrypted artefact store from a terminal."""

from __future__ import annotations

from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from accounts.models import Partner
from audit.trail import Actor
from charters.models import AssetVersion
from governance.exits import services as exit_services
from governance.models import Artefact, DataKey
from governance.vault import artefacts, destruction

OPERATOR = Actor.system("manage.py artefact")


def _asset_version(value: str | None) -> AssetVersion | None:
    if not value:
        return None
    name, _, label = value.partition(":")
    found = AssetVersion.objects.filter(fingerprint=value).first() or (
        AssetVersion.objects.filter(asset__name=name, label=label).first() if label else None
    )
    if found is None:
        raise CommandError(f"No asset version {value!r}: give NAME:LABEL (e.g. atlas-7b:1.0) or its fingerprint.")
    return found


def _partner(slug: str | None) -> Partner | None:
    if not slug:
        return None
    partner = Partner.objects.filter(slug=slug).first()
    if partner is None:
        known = ", ".join(Partner.objects.values_list("slug", flat=True)) or "none yet"
        raise CommandError(f"No partner {slug!r} (known: {known}).")
    return partner


def _key(key_id: str) -> DataKey:
    data_key = DataKey.objects.filter(key_id=key_id).first()
    if data_key is None:
        raise CommandError(f"No data key {key_id!r}: `manage.py artefact list` shows each file's key.")
    return data_key


class Command(BaseCommand):
    help = (
        "The encrypted artefact store. `store FILE --kind KIND [--asset NAME:LABEL] [--partner SLUG]` encrypts a "
        "file in; `list` shows what is kept and under which key; `read UID --out FILE` decrypts one; "
        "`destroy KEY_ID --reason R` schedules a key's destruction after the grace period; `cancel KEY_ID --reason R` "
        "keeps it."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        assert isinstance(parser, CommandParser)  # noqa: S101 (what Django hands every command)
        commands = parser.add_subparsers(dest="command", required=True, parser_class=CommandParser)
        called = getattr(self, "_called_from_command_line", None)
        store = commands.add_parser("store", help="encrypt a file into the store", called_from_command_line=called)
        store.add_argument("file", type=Path)
        store.add_argument("--kind", choices=Artefact.Kind.values, required=True)
        store.add_argument("--asset", help="the asset version, as NAME:LABEL or its fingerprint")
        store.add_argument("--partner", help="the partner it is produced for (not for an asset file)")
        commands.add_parser("list", help="what the store keeps", called_from_command_line=called)
        read = commands.add_parser("read", help="decrypt a file out of the store", called_from_command_line=called)
        read.add_argument("uid")
        read.add_argument("--out", type=Path, required=True)
        for name, text in (("destroy", "schedule a data key's destruction"), ("cancel", "cancel a scheduled one")):
            sub = commands.add_parser(name, help=text, called_from_command_line=called)
            sub.add_argument("key_id")
            sub.add_argument("--reason", required=True)

    def handle(self, *args: Any, command: str, **options: Any) -> None:
        try:
            getattr(self, f"_{command}")(**options)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        except artefacts.KeyDestroyedError as error:
            raise CommandError(str(error)) from None

    def _store(self, *, file: Path, kind: str, asset: str | None, partner: str | None, **_: Any) -> None:
        if not file.is_file():
            raise CommandError(f"{file} is not a file.")
        with file.open("rb") as source:
            artefact = artefacts.artefact_store(
                source=source,
                name=file.name,
                kind=kind,
                asset_version=_asset_version(asset),
                partner=_partner(partner),
                by=OPERATOR,
            )
        self.stdout.write(
            f"Stored {artefact.name} ({artefact.size_bytes:,} bytes, SHA-256 {artefact.sha256}) as {artefact.uid}, "
            f"encrypted under data key {artefact.data_key.key_id}."
        )

    def _list(self, **_: Any) -> None:
        rows = Artefact.objects.select_related("data_key", "asset_version__asset", "partner").order_by("created_at")
        for artefact in rows:
            key = artefact.data_key
            self.stdout.write(
                f"{artefact.uid}  {artefact.kind:<18} {artefact.name:<40} "
                f"{artefact.partner.slug if artefact.partner else '-':<10} key {key.key_id} {key.status}"
            )

    def _read(self, *, uid: str, out: Path, **_: Any) -> None:
        artefact = Artefact.objects.filter(uid=uid).first()
        if artefact is None:
            raise CommandError(f"No artefact {uid!r}: `manage.py artefact list` shows them.")
        chunks = artefacts.artefact_read(artefact)  # refuses before anything is written when the key is gone
        try:
            with (
                out.open("wb") as target,
                tqdm(total=artefact.size_bytes, unit="B", unit_scale=True, disable=None) as bar,
            ):
                for chunk in chunks:
                    target.write(chunk)
                    bar.update(len(chunk))
        except artefacts.CorruptArtefactError as error:
            out.unlink(missing_ok=True)  # no half-decrypted file left behind
            raise CommandError(str(error)) from None
        self.stdout.write(f"Wrote {out} ({artefact.size_bytes:,} bytes), checked chunk by chunk.")

    def _destroy(self, *, key_id: str, reason: str, **_: Any) -> None:
        data_key = destruction.destruction_schedule(data_key=_key(key_id), by=OPERATOR, reason=reason)
        self.stdout.write(
            f"Data key {key_id} will be destroyed after {data_key.destroy_after:%Y-%m-%d %H:%M} UTC; until then "
            f"`manage.py artefact cancel {key_id} --reason ...` keeps it."
        )

    def _cancel(self, *, key_id: str, reason: str, **_: Any) -> None:
        # Through exits, so that a line of an exit that scheduled the key says at once that it was kept.
        exit_services.exit_destruction_cancel(data_key=_key(key_id), by=OPERATOR, reason=reason)
        self.stdout.write(f"Data key {key_id} is kept.")
