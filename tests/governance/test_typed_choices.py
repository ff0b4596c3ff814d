"""The governance fields that hold a closed vocabulary take their choices from its enum, so a word outside it
fails validation; the words stored stay the same."""

import pytest
from django.core.exceptions import ValidationError

from charters.vocabulary import AutomaticStep, Disposition, MisuseRule, Severity, Unanswered
from governance.models import AnomalyFinding, ExitItem, IncidentStep, ReviewCampaign


@pytest.mark.parametrize(
    ("model", "name", "vocabulary"),
    [
        (AnomalyFinding, "rule", MisuseRule),
        (AnomalyFinding, "severity", Severity),
        (ReviewCampaign, "trigger", ReviewCampaign.Trigger),
        (ReviewCampaign, "unanswered", Unanswered),
        (IncidentStep, "automatic", AutomaticStep),
        (ExitItem, "disposition", Disposition),
    ],
)
def test_a_closed_vocabulary_is_its_fields_choices(model, name, vocabulary):
    field = model._meta.get_field(name)
    assert field.choices == vocabulary.choices
    for word in vocabulary.values:
        field.clean(word, None)
    with pytest.raises(ValidationError, match="is not a valid choice"):
        field.clean("something_else", None)


def test_a_review_names_what_started_it_in_the_words_it_always_has():
    assert ReviewCampaign.Trigger.values == ["cadence", "on_demand"]


def test_a_step_people_do_has_no_automatic_word():
    IncidentStep._meta.get_field("automatic").clean("", None)
