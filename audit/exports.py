"""Exports of the trail for auditors and partners: a file of sealed events and a signed manifest beside it.

The file runs from the first selected event to the checkpoint that covers the last one, so that a verifier with
only the file, the manifest and a pinned public key (``tools/verify_export.py``) can recompute the chain from the
manifest's ``previous_hash`` to the checkpoint's hash and check the checkpoint's signature. Events the export does
not select (another partner's, or outside the time range) appear as their digest alone: the chain still checks,
and nothing else about them is disclosed.

Written row by row from a server-side cursor, so memory does not grow with the size of the export.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.db import transaction
from django.db.models import BooleanField, ExpressionWrapper, Max, Min, Q, Value
from django.http import Http404
from django.utils import timezone

from audit import chain
from audit.dispatch import task_queue
from audit.models import Checkpoint, Event, ExportFile, ExportJob
from audit.trail import Actor, record

CSV_COLUMNS = ["chain_seq", "digest", "chain_hash", "in_full", *chain.BODY_FIELDS]
CHUNK = 5000


class ExportError(Exception):
    """Nothing to export, or no checkpoint covers it yet; the message says what to do."""


def manifest_path(out: Path) -> Path:
    return out.with_name(out.name + ".manifest.json")


def _selected(partner: str, since: datetime | None, until: datetime | None) -> Q:
    selected = Q()
    if partner:
        selected &= Q(partner=partner)
    if since is not None:
        selected &= Q(occurred_at__gte=since)
    if until is not None:
        selected &= Q(occurred_at__lt=until)
    return selected


def _rows(first: int, last: int, selected: Q) -> Iterator[tuple[bool, dict[str, Any]]]:
    """(in full?, values) for every sealed event of the range, in chain order."""
    fields = ("chain_seq", "digest", "chain_hash", *chain.BODY_FIELDS)
    in_full = ExpressionWrapper(selected, output_field=BooleanField()) if selected else Value(True)
    events = (
        Event.objects.filter(chain_seq__gte=first, chain_seq__lte=last)
        .order_by("chain_seq")
        .annotate(in_full=in_full)
        .values_list("in_full", *fields)
    )
    for row in events.iterator(chunk_size=CHUNK):
        yield bool(row[0]), dict(zip(fields, row[1:], strict=True))


class _HashingWriter:
    """Writes bytes to a file and hashes them on the way."""

    def __init__(self, target: IO[bytes]) -> None:
        self.target = target
        self.sha256 = hashlib.sha256()

    def write(self, data: bytes) -> None:
        self.sha256.update(data)
        self.target.write(data)


def _line(fmt: str, in_full: bool, values: dict[str, Any]) -> bytes:
    sealed = {"chain_seq": values["chain_seq"], "digest": values["digest"], "chain_hash": values["chain_hash"]}
    body = chain.event_body(values) if in_full else None
    if fmt == "jsonl":
        return chain.canonical({**sealed, "event": body} if body else sealed) + b"\n"
    buffer = io.StringIO()
    cells = [sealed["chain_seq"], sealed["digest"], sealed["chain_hash"], "yes" if body else "no"]
    if body:
        cells += [json.dumps(body["details"], sort_keys=True) if name == "details" else body[name]
                  for name in chain.BODY_FIELDS]  # fmt: skip
        cells = ["" if cell is None else cell for cell in cells]
    else:
        cells += [""] * len(chain.BODY_FIELDS)
    # Every cell quoted: a bare carriage return in a field must not split the row for a reader.
    csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL).writerow(cells)
    return buffer.getvalue().encode()


def trail_export(
    out: Path,
    *,
    fmt: str,
    by: Actor,
    partner: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    progress: Callable[[int], object] | None = None,
) -> dict[str, Any]:
    """Write the export and its signed manifest; record the export (or the failed attempt) in the trail."""
    filters = {"partner": partner, "since": since.isoformat() if since else None,
               "until": until.isoformat() if until else None}  # fmt: skip
    try:
        manifest = _export(out, fmt=fmt, selected=_selected(partner, since, until), filters=filters, progress=progress)
    except ExportError as error:
        with transaction.atomic():
            record(action="audit.export_failed", actor=by, partner=partner, outcome=Event.Outcome.FAILURE,
                   reason=str(error)[:500], details={"format": fmt, "filters": filters})  # fmt: skip
        raise
    with transaction.atomic():
        record(
            action="audit.exported",
            actor=by,
            partner=partner,
            details={key: manifest[key] for key in ("format", "count", "full", "first_seq", "last_seq", "file_sha256")}
            | {"filters": filters},
        )
    return manifest


def _export(
    out: Path, *, fmt: str, selected: Q, filters: dict[str, Any], progress: Callable[[int], object] | None
) -> dict[str, Any]:
    if fmt not in ("jsonl", "csv"):
        raise ExportError(f"Unknown format {fmt!r}: choose jsonl or csv.")
    sealed = Event.objects.filter(selected, chain_seq__isnull=False)
    bounds = sealed.aggregate(first=Min("chain_seq"), last=Max("chain_seq"))
    if bounds["first"] is None:
        raise ExportError(
            "No sealed event matches this export. Events are sealed every few seconds (`manage.py audit seal` "
            "seals now); check the partner and the time range."
        )
    covering = Checkpoint.objects.filter(chain_seq__gte=bounds["last"]).order_by("chain_seq", "id").first()
    if covering is None:
        raise ExportError("No checkpoint covers these events yet: run `manage.py audit seal`, then export again.")
    first, last = bounds["first"], covering.chain_seq
    previous = chain.GENESIS
    if first > 1:
        before = Event.objects.filter(chain_seq=first - 1).values_list("chain_hash", flat=True).first()
        if before is None:
            raise ExportError(
                f"The event sealed before chain_seq {first} is missing, so this export could never verify: the "
                "trail is damaged. Run `manage.py audit verify`."
            )
        previous = before
    count = full = 0
    temporary = out.with_name(out.name + ".partial")
    with temporary.open("wb") as target:
        writer = _HashingWriter(target)
        if fmt == "csv":
            buffer = io.StringIO()
            csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL).writerow(CSV_COLUMNS)
            writer.write(buffer.getvalue().encode())
        for in_full, values in _rows(first, last, selected):
            writer.write(_line(fmt, in_full, values))
            count += 1
            full += in_full
            if progress is not None and count % CHUNK == 0:
                progress(CHUNK)
    temporary.replace(out)  # a file is either whole or absent
    key = chain.signer_publish()
    manifest: dict[str, Any] = {
        "format": fmt,
        "file": out.name,
        "file_sha256": writer.sha256.hexdigest(),
        "count": count,
        "full": full,
        "first_seq": first,
        "last_seq": last,
        "previous_hash": previous,
        "filters": filters,
        "checkpoint": {**covering.statement(), "signature": covering.signature},
        "created_at": timezone.now().isoformat(),
        "key_id": key.key_id,
        "public_key": key.public_key,
    }
    manifest["signature"] = key.sign(manifest)
    manifest_path(out).write_bytes(json.dumps(manifest, indent=2, sort_keys=True).encode() + b"\n")
    return manifest


def export_dir() -> Path:
    folder = Path(settings.VAR_DIR) / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# The trail stores partners as their slugs (accounts' Partner.slug): anything else names no partner's slice.
PARTNER_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")


def export_queue(
    *, by: Actor, requested_by: str, scope: str | None, fmt: str, since: datetime | None, until: datetime | None
) -> ExportJob:
    """Queue an export for a worker; ``scope`` is the caller's partner (None: the whole trail)."""
    from audit.tasks import audit_export  # audit.tasks imports this module

    if fmt not in ("jsonl", "csv"):
        raise ExportError(f"Unknown format {fmt!r}: choose jsonl or csv.")
    if scope is not None and not PARTNER_SLUG.fullmatch(scope):
        raise ExportError("That is not a partner's slug (lower-case letters, digits and dashes): nothing was exported.")
    if since is not None and until is not None and since >= until:
        raise ExportError("The time range is empty: 'since' must come before 'until'.")
    with transaction.atomic():
        job = ExportJob.objects.create(
            partner=scope or "",
            requested_by=requested_by,
            requested_label=by.label,
            actor_type=by.type,
            format=fmt,
            since=since,
            until=until,
        )
        task_queue(audit_export, [str(job.pk)])
    return job


def export_run(job_id: uuid.UUID | str) -> ExportJob:
    """Carry out a queued export. Safe to run again (a redelivered task): a finished job is left as it is, and an
    interrupted one starts over in its own folder."""
    job = ExportJob.objects.get(pk=job_id)
    if job.status in (ExportJob.Status.DONE, ExportJob.Status.FAILED):
        return job
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.RUNNING)
    by = Actor(type=job.actor_type, id=job.requested_by, label=job.requested_label)
    try:
        _export_file(job, by)
    except ExportError as error:
        ExportJob.objects.filter(pk=job.pk).update(
            status=ExportJob.Status.FAILED, error=str(error), finished_at=timezone.now()
        )
    else:
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.DONE, finished_at=timezone.now())
    job.refresh_from_db()
    return job


def _export_file(job: ExportJob, by: Actor) -> ExportFile:
    done = ExportFile.objects.filter(pk=job.pk).first()
    if done is not None:  # written before the worker died, just short of marking the job done
        return done
    folder = export_dir() / str(job.pk)
    shutil.rmtree(folder, ignore_errors=True)  # what an interrupted run left
    folder.mkdir()
    out = folder / f"trail.{job.format}"
    try:
        manifest = trail_export(out, fmt=job.format, by=by, partner=job.partner, since=job.since, until=job.until)
    except ExportError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return ExportFile.objects.create(
        id=job.pk,
        partner=job.partner,
        requested_by=job.requested_by,
        requested_label=job.requested_label,
        format=job.format,
        path=str(out.relative_to(export_dir())),
        manifest=manifest,
    )


def export_file(export: ExportFile, part: str) -> Path:
    """The export's file (``part`` "file") or its manifest ("manifest"), for a download."""
    if part not in ("file", "manifest"):
        raise Http404("Ask for the export's file or its manifest.")
    path = export_dir() / export.path
    path = manifest_path(path) if part == "manifest" else path
    if not path.exists():
        raise Http404("This export's file is no longer on the server; export again.")
    return path
