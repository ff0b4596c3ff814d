"""The closed vocabularies of a charter (charters/vocabulary.py): one definition that the published schema, the
grant form and the code that compares the words all use, holding the words charters and the trail already hold."""

import json

import pytest

from accounts.models import User
from accounts.services import actor_for
from charters import documents
from charters.documents import CharterDocumentError
from charters.models import AssetVersion
from charters.services.charters import charter_apply
from charters.vocabulary import Action, AutomaticStep, Disposition, MisuseRule, Severity, Unanswered
from governance.grants.forms import GrantRequestForm


def test_the_words_stay_those_that_charters_rows_and_sealed_events_hold():
    assert Action.values == ["infer", "evaluate", "fine_tune", "download_weights", "export_outputs"]
    assert MisuseRule.values == [
        "usage_spike",
        "outside_window",
        "denied_exports",
        "new_client_address",
        "removed_measurement",
    ]
    assert Severity.values == ["low", "medium", "high", "critical"]
    assert Unanswered.values == ["revoke", "escalate"]
    assert AutomaticStep.values == ["suspend_grants", "preserve_evidence", "notify"]
    assert Disposition.values == ["retain", "migrate", "destroy"]


def test_the_published_schema_takes_each_vocabulary_from_its_enum():
    published = documents.schema()
    properties = published["properties"]
    assert published["$defs"]["permitted_action"]["properties"]["action"] == {"enum": Action.values}
    misuse = properties["misuse"]["items"]["properties"]
    assert misuse["rule"] == {"enum": MisuseRule.values} and misuse["severity"] == {"enum": Severity.values}
    assert properties["review"]["properties"]["unanswered"] == {"enum": Unanswered.values}
    line = properties["exit_plan"]["properties"]["items"]["items"]["properties"]
    assert line["disposition"] == {"enum": Disposition.values}
    playbook = properties["playbook"]["properties"]
    assert playbook["severity_levels"]["items"] == {"enum": Severity.values}
    assert playbook["steps"]["items"]["properties"]["automatic"] == {"enum": AutomaticStep.values}
    assert "$comment" not in json.dumps(published)  # each marker in the file was filled in


def test_a_word_outside_its_vocabulary_is_refused_with_the_words_allowed(charter_text, officer):
    text = charter_text(lambda document: document["misuse"][0].update(rule="usage_burst"))
    with pytest.raises(CharterDocumentError) as caught:
        charter_apply(text=text, by=actor_for(officer), source="test.yaml")
    assert any(
        "'usage_burst' is not one of usage_spike, outside_window, denied_exports, new_client_address, "
        "removed_measurement" in str(problem)
        for problem in caught.value.problems
    )


def test_the_grant_request_form_offers_exactly_the_actions_a_charter_may_permit():
    form = GrantRequestForm(principals=User.objects.none(), asset_versions=AssetVersion.objects.none(), purposes=[])
    offered = form.fields["actions"].choices
    assert offered == [
        (action, action) for action in documents.schema()["$defs"]["permitted_action"]["properties"]["action"]["enum"]
    ]
