"""The encrypted artefact store and its crypto-shredding: files round-trip through AES-256-GCM under data keys
wrapped by the KEK; any change to the stored ciphertext or to a wrapped key is caught; a scheduled destruction can
be cancelled within its grace period, and after it the key is erased, verified gone, and certified."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.services import actor_for
from audit.models import Event
from audit.trail import Actor
from governance.models import Artefact, DataKey, DestructionCertificate
from governance.vault import artefacts
from governance.vault.artefacts import (
    CorruptArtefactError,
    KeyDestroyedError,
    artefact_read,
    artefact_store,
)
from governance.vault.destruction import (
    certificate_valid,
    destruction_cancel,
    destruction_schedule,
    destructions_run,
    grace,
)
from tests.helpers import sign_in

SMALL_CHUNK = 1024
HEADER = len(artefacts.MAGIC) + 12
START = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
KEEPER = Actor.system("manage.py test-keeper")


@pytest.fixture(autouse=True)
def store_dir(settings, tmp_path: Path) -> Path:
    """Each test's ciphertext goes under its own tmp_path. Changing STORAGES through the settings fixture sends
    setting_changed, which empties Django's cache of storage backends, so storages["artefacts"] is rebuilt."""
    location = tmp_path / "artefact-store"
    settings.STORAGES = {
        **settings.STORAGES,
        "artefacts": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": location}},
    }
    return location


@pytest.fixture
def small_chunks(monkeypatch):
    monkeypatch.setattr(artefacts, "CHUNK", SMALL_CHUNK)


@pytest.fixture
def store(officer):
    """Store ``data`` as Olivia: a delivery to a partner unless told otherwise."""

    def make(data: bytes, *, kind: str = Artefact.Kind.DELIVERY, name: str = "output.bin", **relations) -> Artefact:
        return artefact_store(source=io.BytesIO(data), name=name, kind=kind, by=actor_for(officer), **relations)

    return make


@pytest.fixture
def delivery(store, partner_a, small_chunks):
    """Five KB delivered to Northwind, in five chunks (the last one short)."""
    return store(os.urandom(5000), partner=partner_a)


def plaintext(artefact: Artefact) -> bytes:
    return b"".join(artefact_read(artefact))


def ciphertext_path(store_dir: Path, artefact: Artefact) -> Path:
    return store_dir / artefact.storage_name


def files_in(store_dir: Path) -> list[Path]:
    return [path for path in store_dir.rglob("*") if path.is_file()] if store_dir.exists() else []


def destroy(artefact: Artefact, by: Actor = KEEPER) -> DestructionCertificate:
    """Schedule the artefact's key for destruction and run the destructions once its grace period is over."""
    destruction_schedule(data_key=artefact.data_key, by=by, reason="The partner's collaboration ended.")
    run = destructions_run(now=timezone.now() + grace() + timedelta(minutes=1))
    assert len(run.destroyed) == 1
    return run.destroyed[0]


# --- Round trip -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, SMALL_CHUNK, 4 * SMALL_CHUNK, 5000], ids=["empty", "one-chunk", "4-chunks", "5KB"])
def test_a_stored_file_reads_back_unchanged(store, partner_a, small_chunks, size):
    data = os.urandom(size)
    artefact = store(data, partner=partner_a)
    assert plaintext(artefact) == data
    assert artefact.size_bytes == size
    assert artefact.sha256 == hashlib.sha256(data).hexdigest()


def test_the_stored_ciphertext_holds_no_run_of_the_plaintext(store, store_dir, partner_a, small_chunks):
    data = os.urandom(5000)
    artefact = store(data, partner=partner_a)
    stored = ciphertext_path(store_dir, artefact).read_bytes()
    assert stored.startswith(artefacts.MAGIC)
    assert len(stored) == HEADER + 5000 + 5 * artefacts.TAG  # five chunks, each with its tag
    assert not [offset for offset in range(len(data) - 15) if data[offset : offset + 16] in stored]
    assert artefact.ciphertext_sha256 == hashlib.sha256(stored).hexdigest()


def test_storing_records_an_event_with_the_key_size_and_digest(store, partner_a):
    data = b"evaluation results\n" * 10
    artefact = store(data, partner=partner_a, name="results.txt")
    event = Event.objects.get(action="artefact.stored", target_id=str(artefact.pk))
    assert event.partner == "northwind"
    assert event.details["key_id"] == artefact.data_key.key_id
    assert event.details["size_bytes"] == len(data)
    assert event.details["sha256"] == hashlib.sha256(data).hexdigest()
    assert event.details["name"] == "results.txt"


def test_an_asset_versions_files_share_its_one_key(store, demo_registry):
    version = demo_registry["atlas-7b 1.0"]
    weights = store(b"weights", kind=Artefact.Kind.ASSET_FILE, asset_version=version, name="model.safetensors")
    config = store(b"config", kind=Artefact.Kind.ASSET_FILE, asset_version=version, name="config.json")
    assert weights.data_key_id == config.data_key_id
    assert weights.data_key.scope == DataKey.Scope.ASSET_VERSION
    assert DataKey.objects.filter(asset_version=version).count() == 1
    assert (plaintext(weights), plaintext(config)) == (b"weights", b"config")


def test_each_delivery_gets_a_key_of_its_own(store, partner_a, demo_registry):
    version = demo_registry["atlas-7b 1.0"]
    first = store(b"copy one", partner=partner_a, asset_version=version)
    second = store(b"copy two", partner=partner_a, asset_version=version)
    assert first.data_key_id != second.data_key_id
    assert {first.data_key.scope, second.data_key.scope} == {DataKey.Scope.DELIVERY}
    assert first.data_key.key_check != second.data_key.key_check


# --- Tampering --------------------------------------------------------------------------------------------------


def test_a_flipped_byte_is_caught_at_its_chunk(delivery, store_dir):
    path = ciphertext_path(store_dir, delivery)
    stored = bytearray(path.read_bytes())
    stored[HEADER + 2 * (SMALL_CHUNK + artefacts.TAG) + 5] ^= 0x01
    path.write_bytes(bytes(stored))
    with pytest.raises(CorruptArtefactError, match="at chunk 2"):
        plaintext(delivery)


def test_a_ciphertext_cut_at_a_chunk_boundary_is_caught(delivery, store_dir):
    path = ciphertext_path(store_dir, delivery)
    path.write_bytes(path.read_bytes()[: HEADER + 3 * (SMALL_CHUNK + artefacts.TAG)])
    # Chunk 2 now comes last, but was sealed as not the last: the cut does not pass as a shorter file.
    with pytest.raises(CorruptArtefactError, match="at chunk 2"):
        plaintext(delivery)


def test_two_artefacts_ciphertexts_swapped_do_not_decrypt(store, store_dir, demo_registry):
    version = demo_registry["atlas-7b 1.0"]
    # Under the same key, so that only the artefact's id bound into each chunk tells them apart.
    weights = store(b"weights", kind=Artefact.Kind.ASSET_FILE, asset_version=version)
    config = store(b"config", kind=Artefact.Kind.ASSET_FILE, asset_version=version)
    first, second = ciphertext_path(store_dir, weights), ciphertext_path(store_dir, config)
    first_bytes, second_bytes = first.read_bytes(), second.read_bytes()
    first.write_bytes(second_bytes)
    second.write_bytes(first_bytes)
    with pytest.raises(CorruptArtefactError, match=weights.uid):
        plaintext(weights)
    with pytest.raises(CorruptArtefactError, match=config.uid):
        plaintext(config)


def test_a_wrapped_key_copied_to_another_row_does_not_unwrap(store, partner_a):
    mine = store(b"mine", partner=partner_a)
    theirs = store(b"theirs", partner=partner_a)
    DataKey.objects.filter(pk=theirs.data_key_id).update(wrapped=mine.data_key.wrapped)
    with pytest.raises(CorruptArtefactError, match=f"Data key {theirs.data_key.key_id} does not unwrap"):
        plaintext(theirs)
    assert plaintext(mine) == b"mine"


def test_another_kek_gives_an_error_naming_both_kek_ids(store, partner_a, settings):
    artefact = store(b"secret", partner=partner_a)
    made_with = artefact.data_key.kek_id
    settings.ACCORD_KEK = base64.urlsafe_b64encode(os.urandom(32)).decode()
    configured = artefacts.kek_id()
    assert configured != made_with
    with pytest.raises(CorruptArtefactError) as caught:
        plaintext(artefact)
    assert made_with in str(caught.value) and configured in str(caught.value)
    assert "ACCORD_KEK" in str(caught.value)


# --- Bad input --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "field", "says"),
    [
        ("asset file without an asset version", "kind", "An asset file belongs to an asset version"),
        ("asset file for a partner", "kind", "to no partner"),
        ("delivery without a partner", "partner", "Name the partner"),
        ("unknown kind", "kind", "Unknown kind 'weights': use one of asset_file, delivery"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_written(store, store_dir, partner_a, demo_registry, case, field, says):
    arguments = {
        "asset file without an asset version": {"kind": Artefact.Kind.ASSET_FILE},
        "asset file for a partner": {
            "kind": Artefact.Kind.ASSET_FILE,
            "asset_version": demo_registry["atlas-7b 1.0"],
            "partner": partner_a,
        },
        "delivery without a partner": {"kind": Artefact.Kind.DELIVERY},
        "unknown kind": {"kind": "weights", "partner": partner_a},
    }[case]
    with pytest.raises(ValidationError) as caught:
        store(b"some bytes", **arguments)
    assert any(says in message for message in caught.value.message_dict[field])
    assert not Artefact.objects.exists()
    assert not DataKey.objects.exists()
    assert files_in(store_dir) == []
    assert not Event.objects.filter(action__in=["artefact.stored", "data_key.created"]).exists()


def test_no_file_is_stored_under_an_asset_version_key_scheduled_for_destruction(store, store_dir, demo_registry):
    version = demo_registry["atlas-7b 1.0"]
    first = store(b"weights", kind=Artefact.Kind.ASSET_FILE, asset_version=version)
    destruction_schedule(data_key=first.data_key, by=KEEPER, reason="Version withdrawn.")
    with pytest.raises(ValidationError, match="Cancel the destruction first"):
        store(b"more weights", kind=Artefact.Kind.ASSET_FILE, asset_version=version)
    assert Artefact.objects.count() == 1
    assert files_in(store_dir) == [ciphertext_path(store_dir, first)]


# --- Destruction with a grace period ----------------------------------------------------------------------------


@pytest.fixture
def scheduled(store, partner_a, settings):
    """A delivery to Northwind whose key was scheduled for destruction at START, with a 48-hour grace period."""
    settings.ACCORD_DESTRUCTION_GRACE_HOURS = 48
    with time_machine.travel(START, tick=False):
        artefact = store(b"delivered weights " * 200, partner=partner_a)
        destruction_schedule(data_key=artefact.data_key, by=KEEPER, reason="The charter was terminated.")
    artefact.refresh_from_db()
    return artefact


GRACE_END = START + timedelta(hours=48)


def test_scheduling_starts_the_configured_grace_period(scheduled):
    key = DataKey.objects.get(pk=scheduled.data_key_id)
    assert key.status == DataKey.Status.PENDING_DESTRUCTION
    assert key.destroy_after == GRACE_END
    assert key.destruction_reason == "The charter was terminated."
    assert key.wrapped is not None


def test_nothing_is_destroyed_a_minute_before_the_grace_period_ends(scheduled):
    with time_machine.travel(GRACE_END - timedelta(minutes=1), tick=False):
        run = destructions_run()
    assert (run.destroyed, run.failed) == ([], 0)
    assert DataKey.objects.get(pk=scheduled.data_key_id).status == DataKey.Status.PENDING_DESTRUCTION
    assert plaintext(scheduled) == b"delivered weights " * 200


def test_a_destruction_cancelled_within_grace_keeps_the_key_and_can_be_scheduled_again(scheduled):
    with time_machine.travel(GRACE_END - timedelta(minutes=1), tick=False):
        destruction_cancel(data_key=scheduled.data_key, by=KEEPER, reason="The partner renewed.")
    key = DataKey.objects.get(pk=scheduled.data_key_id)
    assert (key.status, key.destroy_after) == (DataKey.Status.ACTIVE, None)
    assert plaintext(scheduled) == b"delivered weights " * 200
    with time_machine.travel(GRACE_END + timedelta(hours=1), tick=False):
        assert destructions_run().destroyed == []  # the old deadline no longer counts
        destruction_schedule(data_key=key, by=KEEPER, reason="The renewal fell through.")
    assert key.destroy_after == GRACE_END + timedelta(hours=49)


def test_after_grace_the_run_erases_the_key_and_certifies_it_once(scheduled, store_dir):
    path = ciphertext_path(store_dir, scheduled)
    before = path.read_bytes()
    with time_machine.travel(GRACE_END + timedelta(minutes=1), tick=False):
        run = destructions_run()
    assert len(run.destroyed) == 1 and run.failed == 0
    key = DataKey.objects.get(pk=scheduled.data_key_id)
    assert (key.status, key.wrapped) == (DataKey.Status.DESTROYED, None)
    assert key.destroyed_at == GRACE_END + timedelta(minutes=1)
    with pytest.raises(KeyDestroyedError, match=key.key_id):
        plaintext(scheduled)
    # The erase is cryptographic: the ciphertext is still there, unchanged, and useless.
    assert path.read_bytes() == before
    with time_machine.travel(GRACE_END + timedelta(minutes=2), tick=False):
        again = destructions_run()
    assert (again.destroyed, again.failed) == ([], 0)
    assert DestructionCertificate.objects.count() == 1


def test_a_destruction_cannot_be_cancelled_once_its_grace_period_has_ended(scheduled):
    with time_machine.travel(GRACE_END + timedelta(minutes=1), tick=False):
        with pytest.raises(ValidationError, match="its grace period has ended"):
            destruction_cancel(data_key=scheduled.data_key, by=KEEPER, reason="Too late.")
        destructions_run()
        with pytest.raises(ValidationError, match="cannot be kept: it is destroyed"):
            destruction_cancel(data_key=scheduled.data_key, by=KEEPER, reason="Far too late.")
    assert DataKey.objects.get(pk=scheduled.data_key_id).status == DataKey.Status.DESTROYED


def test_the_certificate_records_a_verified_cryptographic_erase(scheduled):
    with time_machine.travel(GRACE_END + timedelta(minutes=1), tick=False):
        (certificate,) = destructions_run().destroyed
    certificate.refresh_from_db()
    document = certificate.document
    key = scheduled.data_key
    assert document["sanitization"]["method"] == "cryptographic erase"
    assert document["sanitization"]["key_id"] == key.key_id
    assert document["sanitization"]["key_check"] == key.key_check
    assert [entry["uid"] for entry in document["subject"]["artefacts"]] == [scheduled.uid]
    assert document["subject"]["partner"] == "northwind"
    assert document["requested"]["reason"] == "The charter was terminated."
    verification = document["verification"]
    assert verification["result"] == "passed"
    assert verification["wrapped_key_erased"] is True
    assert verification["artefacts"] == [
        {"artefact": scheduled.uid, "ciphertext_present": True, "ciphertext_unchanged": True, "decryptable": False}
    ]
    assert certificate.partner.slug == "northwind"


def test_the_certificate_signature_holds_until_the_document_is_altered(scheduled):
    with time_machine.travel(GRACE_END + timedelta(minutes=1), tick=False):
        (certificate,) = destructions_run().destroyed
    certificate.refresh_from_db()
    assert certificate_valid(certificate)
    certificate.document["verification"]["artefacts"][0]["decryptable"] = True
    assert not certificate_valid(certificate)


def test_the_destroyed_event_names_the_certificate(scheduled):
    with time_machine.travel(GRACE_END + timedelta(minutes=1), tick=False):
        (certificate,) = destructions_run().destroyed
    event = Event.objects.get(action="data_key.destroyed", target_id=str(scheduled.data_key_id))
    assert event.details["certificate"] == certificate.number
    assert event.details["key_id"] == scheduled.data_key.key_id
    assert event.actor_label == "destruction"


def test_a_key_with_a_stored_copy_is_not_certified_as_destroyed(scheduled):
    key = scheduled.data_key
    DataKey.objects.create(
        key_id=secrets.token_hex(16),
        scope=DataKey.Scope.DELIVERY,
        partner=key.partner,
        wrapped=key.wrapped,
        kek_id=key.kek_id,
        key_check=key.key_check,  # the same key, kept a second time
        created_by="a careless migration",
    )
    with time_machine.travel(GRACE_END + timedelta(minutes=1), tick=False):
        run = destructions_run()
    assert (run.destroyed, run.failed) == ([], 1)
    assert not DestructionCertificate.objects.exists()
    key.refresh_from_db()
    assert key.status == DataKey.Status.PENDING_DESTRUCTION  # the erase was rolled back
    assert key.wrapped is not None and key.destroyed_at is None
    assert plaintext(scheduled) == b"delivered weights " * 200
    assert not Event.objects.filter(action="data_key.destroyed").exists()


# --- Pages ------------------------------------------------------------------------------------------------------


def test_an_officer_uploads_a_file_and_downloads_it_back(client, officer, demo_registry, store_dir, small_chunks):
    data = os.urandom(3000)
    version = demo_registry["atlas-7b 1.0"]
    sign_in(client, officer)
    response = client.post(
        "/governance/artefacts/",
        {
            "file": SimpleUploadedFile("model.safetensors", data),
            "kind": Artefact.Kind.ASSET_FILE,
            "asset_version": version.pk,
            "partner": "",
        },
    )
    assert response.status_code == 302 and response["Location"] == "/governance/artefacts/"
    artefact = Artefact.objects.get()
    assert (artefact.name, artefact.asset_version, artefact.size_bytes) == ("model.safetensors", version, 3000)
    assert data[:64] not in ciphertext_path(store_dir, artefact).read_bytes()
    response = client.get(f"/governance/artefacts/{artefact.uid}/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="model.safetensors"'
    assert b"".join(response.streaming_content) == data


def test_a_destroyed_artefact_answers_gone_with_its_certificate(client, officer, delivery):
    certificate = destroy(delivery)
    sign_in(client, officer)
    response = client.get(f"/governance/artefacts/{delivery.uid}/")
    assert response.status_code == 410
    assert f'href="/governance/certificates/{certificate.number}/"' in response.content.decode()


def test_an_auditor_sees_the_store_but_cannot_upload_or_download(client, auditor, delivery):
    sign_in(client, auditor)
    response = client.get("/governance/artefacts/")
    assert response.status_code == 200
    assert delivery.name in response.content.decode()
    upload = {"file": SimpleUploadedFile("sneaky.bin", b"x"), "kind": Artefact.Kind.DELIVERY, "partner": ""}
    assert client.post("/governance/artefacts/", upload).status_code == 403
    assert client.get(f"/governance/artefacts/{delivery.uid}/").status_code == 403  # officers' alone
    assert Artefact.objects.count() == 1


def test_a_partner_admin_cannot_open_the_store(client, a_admin, delivery):
    sign_in(client, a_admin)
    assert client.get("/governance/artefacts/").status_code == 403
    assert client.get(f"/governance/artefacts/{delivery.uid}/").status_code == 404


def test_the_certificate_page_shows_a_valid_signature_and_downloads_the_signed_document(client, officer, delivery):
    certificate = destroy(delivery)
    sign_in(client, officer)
    page = client.get(f"/governance/certificates/{certificate.number}/")
    assert page.status_code == 200
    assert "Signature valid" in page.content.decode()
    response = client.get(f"/governance/certificates/{certificate.number}/", {"format": "json"})
    assert response["Content-Disposition"] == f'attachment; filename="certificate-{certificate.number}.json"'
    downloaded = json.loads(response.content)
    assert downloaded["document"] == certificate.document
    assert downloaded["signature"] == certificate.signature
    assert downloaded["signing_key_id"] == certificate.signing_key_id


def test_the_certificate_page_says_when_the_signature_does_not_verify(client, officer, delivery):
    certificate = destroy(delivery)
    document = {**certificate.document, "performed": {"by": "someone else", "at": "2026-01-01T00:00:00+00:00"}}
    DestructionCertificate.objects.filter(pk=certificate.pk).update(document=document)
    sign_in(client, officer)
    page = client.get(f"/governance/certificates/{certificate.number}/").content.decode()
    assert "Signature does not verify" in page and "Signature valid" not in page


def test_a_partner_admin_reads_its_own_certificate_and_gets_404_on_another_partners(client, a_admin, b_admin, delivery):
    certificate = destroy(delivery)
    sign_in(client, a_admin)
    assert client.get(f"/governance/certificates/{certificate.number}/").status_code == 200
    sign_in(client, b_admin)
    assert client.get(f"/governance/certificates/{certificate.number}/").status_code == 404
    assert client.get(f"/governance/certificates/{certificate.number}/", {"format": "json"}).status_code == 404
