"""A charter version's typed terms: what the document says, built once per content, and the only way governance
reads a charter."""

import re
from datetime import UTC, datetime
from pathlib import Path

import yaml

from charters import documents
from charters.terms import VersionTerms, terms_of
from tests.world import in_review

GOVERNANCE = Path(__file__).resolve().parents[2] / "governance"


def test_the_terms_say_what_the_document_says(live_charter, demo_registry, charter_window):
    terms = terms_of(live_charter)
    document = live_charter.document
    assert terms.window.first_day == charter_window.first_day and terms.window.last_day == charter_window.last_day
    assert terms.window.starts == datetime.combine(charter_window.first_day, datetime.min.time(), tzinfo=UTC)
    assert terms.window.as_document() == document["validity"]
    assert terms.purposes == ("safety-evaluation", "benchmarking")
    assert terms.shareable_fingerprints == documents.shareable_fingerprints(document)
    assert demo_registry["atlas-7b 1.0"].fingerprint in terms.shareable_fingerprints
    assert dict(terms.permissions) == documents.permissions(document)
    assert [(rule.name, rule.rule, rule.severity) for rule in terms.misuse] == [
        ("usage-spike", "usage_spike", "high"),
        ("export-probing", "denied_exports", "medium"),
        ("off-hours-use", "outside_window", "low"),
        ("unknown-client", "new_client_address", "medium"),
    ]
    assert dict(terms.misuse[0].params) == {"factor": 5, "window_minutes": 60}
    assert (terms.review.cadence_days, terms.review.unanswered) == (90, "revoke")
    assert terms.incident_response.playbook == "model-misuse" and terms.incident_response.remediation_hours == 72
    assert [training.name for training in terms.trainings] == ["responsible-evaluation"]


def test_terms_are_built_once_per_content_and_a_drafts_edit_gets_new_ones(charter_text, officer):
    draft = in_review(yaml.safe_load(charter_text()), officer)
    assert terms_of(draft) is terms_of(draft)

    def shorter_review(document):
        document["review"] = {"cadence_days": 30, "unanswered": "escalate"}

    edited = VersionTerms.of(yaml.safe_load(charter_text(shorter_review)))
    assert (edited.review.cadence_days, edited.review.unanswered) == (30, "escalate")
    assert terms_of(draft).review.cadence_days == 90


def test_governance_reads_charters_through_their_terms_never_their_documents_keys():
    # A certificate's document is the vault's own; a charter version's document is read only through terms_of().
    readers = []
    for path in sorted(GOVERNANCE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if re.search(r"version\.document\b|active_version\.document\b", line):
                readers.append(f"{path.relative_to(GOVERNANCE.parent)}:{number}: {line.strip()}")
    assert readers == []
