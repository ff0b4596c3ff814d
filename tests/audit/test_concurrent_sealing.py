"""Several processes write events (some transactions roll back, some commit late) while two sealers run: every
committed event is sealed exactly once, the chain has no gap, and it verifies."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from audit import chain
from audit.models import Event
from tests.conftest import committing

REPO = Path(__file__).resolve().parents[2]

WRITER = """
import random, time
from django.db import transaction
from audit.trail import Actor, record
rng = random.Random({seed})
committed = 0
for batch in range(150):
    try:
        with transaction.atomic():
            for n in range(rng.randint(1, 5)):
                record(action="decision.allow", actor=Actor.system("writer-{seed}"), details={{"batch": batch, "n": n}})
            time.sleep(rng.random() * 0.02)  # hold the transaction open: commits land out of id order
            if rng.random() < 0.2:
                raise RuntimeError("rolled back")
            committed += n + 1
    except RuntimeError:
        pass
print(committed)
"""

SEALER = """
import time
from audit import chain
deadline = time.monotonic() + {seconds}
sealed = 0
while time.monotonic() < deadline:
    sealed += chain.seal(batch=7).sealed
print(sealed)
"""


def run(code, env):
    return subprocess.Popen(
        [sys.executable, str(REPO / "manage.py"), "shell", "-c", code],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.postgres
@committing
def test_concurrent_writers_and_sealers_leave_no_gap_and_no_double_seal():
    database = settings.DATABASES["default"]
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        "PYTHONPATH": str(REPO),
        # The anchor file this test's settings name (tests/conftest.py): one chain, one anchor.
        "ACCORD_AUDIT_ANCHOR_FILE": str(settings.ACCORD_AUDIT_ANCHOR_FILE),
    }
    writers = [run(WRITER.format(seed=seed), env) for seed in range(4)]
    sealers = [run(SEALER.format(seconds=8), env) for _ in range(2)]
    committed = sealed_meanwhile = 0
    for process in writers + sealers:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        count = int(out.strip().splitlines()[-1])
        if process in writers:
            committed += count
        else:
            sealed_meanwhile += count
    assert sealed_meanwhile > 0  # the sealers really ran while events were being written
    chain.seal()  # whatever the last concurrent pass left
    written = Event.objects.filter(action="decision.allow")
    assert written.count() == committed > 100
    assert not Event.objects.filter(chain_seq__isnull=True).exists()
    seqs = list(Event.objects.order_by("chain_seq").values_list("chain_seq", flat=True))
    assert seqs == list(range(1, len(seqs) + 1))  # no gap, none twice
    result = chain.verify()
    assert result.intact and result.checked == len(seqs)
    assert chain.anchor_last()["number"] > 1  # the sealer processes anchored their checkpoints outside the database
