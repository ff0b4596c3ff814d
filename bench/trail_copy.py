"""Writing decision events into a scratch trail fast, with COPY: what the trail benchmarks start from."""

from __future__ import annotations

import io
import json
import secrets
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any

COLUMNS = (
    "occurred_at, actor_type, actor_id, actor_label, partner, action, target_type, target_id, outcome, reason, "
    "request_id, details, salt"
)
ROWS_PER_COPY = 100_000


def decision_row(at: datetime, principal: int, partner: str, details: dict[str, Any]) -> str:
    """One allowed decision by principal ``principal``, as a line of COPY's text format."""
    cells = [at.isoformat(), "principal", str(principal), f"principal-{principal}", partner, "decision.allow", "", "",
             "success", "", "", json.dumps(details), secrets.token_hex(16)]  # fmt: skip
    return "\t".join(cells) + "\n"


def copy_rows(cursor: Any, rows: Iterable[str], total: int) -> None:
    """COPY the lines into audit_event, a hundred thousand at a time, showing progress on a terminal."""
    buffer = io.StringIO()
    for written, row in enumerate(rows, start=1):
        buffer.write(row)
        if written % ROWS_PER_COPY == 0 or written == total:
            buffer.seek(0)
            cursor.copy_expert(f"COPY audit_event ({COLUMNS}) FROM STDIN", buffer)
            buffer = io.StringIO()
            if sys.stderr.isatty():
                print(f"\r  writing events {written:,}/{total:,}", end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    cursor.execute("ANALYZE audit_event")
