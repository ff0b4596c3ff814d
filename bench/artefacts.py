"""The encrypted artefact store against plain storage, and the cost of a destruction, on a scratch database.

    .venv/bin/python bench/artefacts.py [--mib 256] [--keys 200]

It runs in a fresh folder (SQLite and a file-system store, so it needs no service), with the settings a
development machine has. It measures, in the same run:
- storing a ``--mib`` MiB file through ``artefact_store`` (encrypt in 1 MiB AES-256-GCM chunks, then save) against
  saving the same plaintext through the same storage API (the baseline), and reading it back decrypted against
  reading the plain file;
- destroying ``--keys`` data keys, each with one small delivery (erase, verify, sign a certificate, record).

Prints one JSON object: the times, MiB/s and the ratios to the baseline.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=256, help="size of the file stored and read (MiB)")
    parser.add_argument("--keys", type=int, default=200, help="data keys destroyed")
    options = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="accord-bench-artefacts-"))
    os.environ.update({"ACCORD_VAR_DIR": str(scratch), "DJANGO_SETTINGS_MODULE": "accord.settings"})
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
    import django

    django.setup()
    from django.core.files import File
    from django.core.management import call_command
    from django.utils import timezone

    from audit.trail import Actor
    from governance.models import DataKey
    from governance.ops.demo import seed_demo
    from governance.vault import artefacts, destruction

    say(f"Scratch folder {scratch}: migrating and seeding")
    call_command("migrate", verbosity=0)
    seed_demo(with_tokens=False)
    from accounts.models import Partner
    from charters.models import AssetVersion

    version = AssetVersion.objects.get(asset__name="atlas-7b", label="1.0")
    partner = Partner.objects.get(slug="northwind")
    by = Actor.system("bench")
    plain = scratch / "plain.bin"
    with plain.open("wb") as out:
        for _ in range(options.mib):
            out.write(os.urandom(1024 * 1024))
    storage = artefacts.artefact_storage()
    size = options.mib * 1024 * 1024

    say(f"Storing {options.mib} MiB: plain, then encrypted")
    started = time.perf_counter()
    with plain.open("rb") as source:
        stored = storage.save("bench/plain.bin", File(source))
    plain_store = time.perf_counter() - started
    started = time.perf_counter()
    with plain.open("rb") as source:
        artefact = artefacts.artefact_store(
            source=source, name="weights.bin", kind="delivery", asset_version=version, partner=partner, by=by
        )
    encrypted_store = time.perf_counter() - started

    say("Reading back: plain, then decrypted")
    started = time.perf_counter()
    with storage.open(stored, "rb") as stream:
        while stream.read(1024 * 1024):
            pass
    plain_read = time.perf_counter() - started
    started = time.perf_counter()
    for _ in artefacts.artefact_read(artefact):
        pass
    decrypted_read = time.perf_counter() - started

    say(f"Destroying {options.keys} data keys")
    for number in range(options.keys):
        small = artefacts.artefact_store(
            source=io.BytesIO(b"delivery %d" % number),
            name=f"d{number}.bin",
            kind="delivery",
            asset_version=version,
            partner=partner,
            by=by,
        )
        destruction.destruction_schedule(data_key=small.data_key, by=by, reason="bench")
    DataKey.objects.filter(status=DataKey.Status.PENDING_DESTRUCTION).update(destroy_after=timezone.now())
    started = time.perf_counter()
    run = destruction.destructions_run()
    destroy = time.perf_counter() - started

    mib = size / (1024 * 1024)
    print(
        json.dumps(
            {
                "mib": options.mib,
                "store_plain_s": round(plain_store, 3),
                "store_encrypted_s": round(encrypted_store, 3),
                "store_encrypted_mib_per_s": round(mib / encrypted_store, 1),
                "store_ratio": round(encrypted_store / plain_store, 2),
                "read_plain_s": round(plain_read, 3),
                "read_decrypted_s": round(decrypted_read, 3),
                "read_decrypted_mib_per_s": round(mib / decrypted_read, 1),
                "read_ratio": round(decrypted_read / plain_read, 2),
                "keys_destroyed": len(run.destroyed),
                "destroy_ms_per_key": round(destroy * 1000 / max(len(run.destroyed), 1), 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
