"""Helpers the trail's tests share: writing events, changing tables as a database superuser would, forging a
sealed-looking event, and running the standalone verifier as an auditor does."""

import json
import subprocess
import sys
from pathlib import Path

from django.db import connection, transaction

from audit import chain
from audit.trail import Actor, record

BY = Actor.system("chain-test")
# What write() records: any registered action (record() refuses others) that these tests' fixtures never write.
ACTION = "session.opened"
VERIFIER = Path(__file__).resolve().parents[2] / "tools" / "verify_export.py"


def write(count, partner="northwind"):
    with transaction.atomic():
        for number in range(count):
            record(action=ACTION, actor=BY, partner=partner, details={"n": number, "note": "é"})


def superuser_sql(sql, params=()):
    """Change the tables as a database superuser would: triggers off for this session while the statement runs."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(sql, params)
        finally:
            if connection.vendor == "postgresql":
                cursor.execute("SET session_replication_role = DEFAULT")


def insert_sealed(values, chain_seq, previous):
    """A forged event that looks sealed: its digest and chain hash computed as the sealer would."""
    digest = chain.body_digest(chain.event_body(values))
    columns = ", ".join(chain.BODY_FIELDS)
    superuser_sql(
        f"INSERT INTO audit_event ({columns}, chain_seq, digest, chain_hash) "  # noqa: S608 (test code, our columns)
        f"VALUES ({', '.join(['%s'] * (len(chain.BODY_FIELDS) + 3))})",
        [json.dumps(values[name]) if name == "details" else values[name] for name in chain.BODY_FIELDS]
        + [chain_seq, digest, chain.link(chain_seq, previous, digest)],
    )


def offline(path, *keys, python=sys.executable):
    """Run the standalone verifier as an auditor would: its own process, the file, and pinned keys."""
    args = [python, str(VERIFIER), str(path)]
    # "=": a url-safe base64 key may start with "-", which argparse would take for an option (1 key in 64).
    args += [f"--public-key={key}" for key in keys]
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)
