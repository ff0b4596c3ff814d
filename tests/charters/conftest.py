"""A registry like the demo's, and the example charter files as the starting point for every charter test, valid
for the run's charter window (tests/conftest.py) rather than for the dates the files name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from governance.ops.demo import ASSETS, demo_fingerprint
from tests.conftest import RUN_CHARTER_WINDOW, CharterWindow
from tests.factories import AssetFactory, AssetVersionFactory

EXAMPLES = Path(__file__).resolve().parents[2] / "charters" / "examples"


@pytest.fixture
def demo_registry(host, partner_a, partner_b):
    owners = {None: host, "northwind": partner_a, "helix": partner_b}
    versions = {}
    for owner, name, kind, _, labels in ASSETS:
        asset = AssetFactory(owner=owners[owner], name=name, kind=kind)
        for label, classification, size in labels:
            versions[f"{name} {label}"] = AssetVersionFactory(
                asset=asset,
                label=label,
                classification=classification,
                size_bytes=size,
                fingerprint=demo_fingerprint(name, label),
            )
    return versions


def example(name: str = "northwind-evaluation", *, window: CharterWindow = RUN_CHARTER_WINDOW) -> dict[str, Any]:
    """An example charter's parsed form, valid for ``window``."""
    document = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    document["validity"] = window.validity()
    return document


@pytest.fixture
def charter_text(demo_registry, charter_window) -> Callable[..., str]:
    """The Northwind example as YAML text, valid for the run's window, after ``change`` edits its parsed form."""

    def make(change: Callable[[dict[str, Any]], None] | None = None, name: str = "northwind-evaluation") -> str:
        document = example(name, window=charter_window)
        if change is not None:
            change(document)
        return yaml.safe_dump(document, sort_keys=False)

    return make
