"""The trail at scale, on a scratch PostgreSQL database: appending with the sealer running, verify, and export.

    .venv/bin/python bench/audit.py [--events 1000000] [--seconds 10] [--writers 4]

It migrates a scratch database (default postgres://postgres@127.0.0.1:5432/accord_bench_audit, created when
missing; the name must start with accord_bench, since the trail is emptied first: a superuser's TRUNCATE, which
the append-only triggers do not cover). Prints one JSON object per measurement:

- append: ``--writers`` processes each recording one event per transaction (as a decision does) for ``--seconds``,
  first with no sealer (the baseline) and then with a sealer running every second, in the same run; events/s and
  the ratio, and how long the last events waited to be sealed;
- seal: sealing ``--events`` events written by COPY (events/s);
- verify: ``audit verify`` over them (seconds);
- export: ``audit export`` of all of them in a child process, with its peak resident memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.http_decisions import ensure_database  # noqa: E402 (after the path is set)
from bench.trail_copy import copy_rows, decision_row  # noqa: E402

WRITER = """
import time
from django.db import transaction
from audit.trail import Actor, record
deadline = time.monotonic() + {seconds}
written = 0
while time.monotonic() < deadline:
    with transaction.atomic():
        record(action="decision.allow", actor=Actor.system("bench"), partner="northwind",
               details={{"decision_id": "x" * 32, "action": "infer", "asset": "a" * 64, "purpose": "benchmarking"}})
    written += 1
print(written)
"""

BATCH_WRITER = """
import time
from audit.trail import Actor, event, record_standalone
deadline = time.monotonic() + {seconds}
written = 0
while time.monotonic() < deadline:
    record_standalone([event(action="decision.allow", actor=Actor.system("bench"), partner="northwind",
                             details={{"decision_id": "x" * 32, "n": n}}) for n in range({size})])
    written += {size}
print(written)
"""

SEALER = """
import time
from audit import chain
deadline = time.monotonic() + {seconds}
while time.monotonic() < deadline:
    chain.seal()
    time.sleep(1)
"""


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def emit(row: dict[str, Any]) -> None:
    print(json.dumps(row), flush=True)


def child(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 (our own interpreter and manage.py)
        [sys.executable, str(REPO / "manage.py"), "shell", "--no-imports", "-c", code],
        cwd=REPO,
        env=os.environ.copy(),
        stdout=subprocess.PIPE,
        text=True,
    )


def empty_trail() -> None:
    """A scratch trail starts over: its events, checkpoints and anchor file go."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE audit_event, audit_checkpoint RESTART IDENTITY")
    Path(os.environ["ACCORD_AUDIT_ANCHOR_FILE"]).unlink(missing_ok=True)


def append(seconds: int, writers: int, *, sealing: bool, batch: int = 0) -> dict[str, Any]:
    """``batch`` 0: one event per transaction under record(), as a change writes it; otherwise ``batch`` events per
    standalone statement, as the decision endpoints write them (1 for a single decision)."""
    from audit import chain
    from audit.models import Event

    empty_trail()
    chain.seal()
    sealer = child(SEALER.format(seconds=seconds)) if sealing else None
    started = time.perf_counter()
    code = BATCH_WRITER.format(seconds=seconds, size=batch) if batch else WRITER.format(seconds=seconds)
    processes = [child(code) for _ in range(writers)]
    written = sum(int(process.communicate()[0].strip().splitlines()[-1]) for process in processes)
    elapsed = time.perf_counter() - started
    lag = 0.0
    if sealer is not None:
        sealer.wait()
        waited = time.perf_counter()
        while Event.objects.filter(chain_seq__isnull=True).exists() and time.perf_counter() - waited < 60:
            chain.seal()
        lag = time.perf_counter() - waited
    # Each writer writes for exactly ``seconds`` once started (start-up, about a second, is not counted).
    return {"events": written, "seconds": seconds, "per_second": round(written / seconds), "wall_s": round(elapsed, 1),
            "final_seal_s": round(lag, 2)}  # fmt: skip


def fill(events: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from governance.decisions.records import decision_details

    empty_trail()
    now = timezone.now()
    rows = (
        decision_row(
            now,
            number % 50,
            ("northwind", "helix", "orbit")[number % 3],
            decision_details(
                decision_id=f"{number:032x}",
                action="infer",
                asset="a" * 64,
                purpose="benchmarking",
                codes=[],
                bundle="",
                grant_id=number % 977,
            ),
        )
        for number in range(events)
    )
    with connection.cursor() as cursor:
        copy_rows(cursor, rows, events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/accord_bench_audit")
    options = parser.parse_args()
    if not options.database.rsplit("/", 1)[-1].startswith("accord_bench"):
        raise SystemExit("--database must name a scratch database whose name starts with accord_bench.")
    ensure_database(options.database)
    os.environ.update(DATABASE_URL=options.database, DJANGO_SETTINGS_MODULE="accord.settings")
    os.environ.setdefault("ACCORD_VAR_DIR", str(REPO / "var" / "bench"))
    os.environ.pop("REDIS_URL", None)
    os.environ["ACCORD_AUDIT_ANCHOR_FILE"] = str(REPO / "var" / "bench" / "audit-anchor.jsonl")

    import django

    django.setup()
    from django.core.management import call_command

    from audit import chain

    call_command("migrate", verbosity=0)
    say(f"Appending for {options.seconds} s with {options.writers} writers, without and with the sealer")
    bare = append(options.seconds, options.writers, sealing=False)
    sealed = append(options.seconds, options.writers, sealing=True)
    emit({"measure": "append, one change and its event per transaction", "writers": options.writers,
          "without_sealer": bare, "with_sealer": sealed,
          "ratio": round(sealed["per_second"] / bare["per_second"], 2)})  # fmt: skip
    for batch, label in ((1, "one decision per statement"), (100, "100 per statement (a decision batch)")):
        bare = append(options.seconds, options.writers, sealing=False, batch=batch)
        sealed = append(options.seconds, options.writers, sealing=True, batch=batch)
        emit({"measure": f"append, {label}", "writers": options.writers, "without_sealer": bare,
              "with_sealer": sealed, "ratio": round(sealed["per_second"] / bare["per_second"], 2)})  # fmt: skip

    say(f"Writing {options.events:,} events (COPY; not timed)")
    fill(options.events)
    started = time.perf_counter()
    sealed_now = 0
    while sealed_now < options.events:  # a transaction open elsewhere in the cluster holds sealing back a moment
        sealed_now += chain.seal().sealed
    seal_s = time.perf_counter() - started
    emit({"measure": "seal", "events": sealed_now, "seconds": round(seal_s, 1),
          "per_second": round(sealed_now / seal_s)})  # fmt: skip

    started = time.perf_counter()
    verified = chain.verify()
    emit({"measure": "verify", "events": verified.checked, "intact": verified.intact,
          "seconds": round(time.perf_counter() - started, 1)})  # fmt: skip

    from django.utils import timezone

    from audit.selectors import event_list

    searches = {
        "partner": event_list(partner="helix"),
        "action": event_list(action="decision."),
        "actor": event_list(actor="gateway-7"),
        "since": event_list(since=timezone.now() - timedelta(hours=1)),
        "partner_and_outcome": event_list(partner="orbit", outcome="success"),
    }
    timings = {}
    for name, query in searches.items():
        started = time.perf_counter()
        list(query[:51])  # one page of the trail, as /trail/ asks for it
        timings[name] = round((time.perf_counter() - started) * 1000, 1)
    emit({"measure": "search_first_page_ms", "events": verified.checked, **timings})

    out = REPO / "var" / "bench" / "export.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    # VmHWM, not ru_maxrss: a forked child's ru_maxrss starts from its parent's size (this process holds the COPY
    # buffers), while VmHWM belongs to the exporter's own address space.
    code = (
        "from django.core.management import call_command; "
        f"call_command('audit', 'export', '--format', 'jsonl', '--out', {str(out)!r}); "
        "print(next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM')))"
    )
    exporter = child(code)
    peak_kb = int(exporter.communicate()[0].strip().splitlines()[-1])
    emit({"measure": "export", "events": verified.checked, "seconds": round(time.perf_counter() - started, 1),
          "file_mb": round(out.stat().st_size / 2**20), "peak_rss_mb": round(peak_kb / 1024)})  # fmt: skip
    out.unlink()


if __name__ == "__main__":
    main()
