"""Which line of the charter each problem names: the message says "line 7: …" and the editor marks line 7."""

import html
import re

import pytest

from charters import documents
from charters.documents import CharterDocumentError, Problem
from tests.helpers import sign_in

EXAMPLE = (documents.SCHEMA_PATH.parent.parent / "examples" / "northwind-evaluation.yaml").read_text(encoding="utf-8")


def line_starting(text: str, start: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if line.startswith(start))


def refusal(text: str) -> CharterDocumentError:
    with pytest.raises(CharterDocumentError) as caught:
        documents.validate_schema(documents.parse(text))
    return caught.value


def test_broken_yaml_names_the_line_the_parser_stopped_at() -> None:
    text = EXAMPLE.replace("  cadence_days: 90", "  cadence_days: [90", 1)
    problems = refusal(text).problems
    assert [problem.line for problem in problems] == [line_starting(text, "  unanswered:")]
    assert re.fullmatch(r"line \d+: \(document\): this is not valid YAML: .+\.", str(problems[0]))


def test_a_value_of_the_wrong_kind_names_the_line_of_its_key() -> None:
    text = EXAMPLE.replace("  cadence_days: 90", "  cadence_days: often", 1)
    line = line_starting(text, "  cadence_days:")
    assert [str(problem) for problem in refusal(text).problems] == [
        f"line {line}: review.cadence_days: 'often' is not of type 'integer'."
    ]


def test_a_key_the_schema_does_not_allow_at_the_top_names_its_own_line() -> None:
    text = EXAMPLE.replace("title:", "colour: teal\ntitle:", 1)
    (problem,) = refusal(text).problems
    assert problem.line == line_starting(text, "colour:")
    assert str(problem).startswith(f"line {problem.line}: (document): Additional properties are not allowed")


def test_a_key_the_schema_does_not_allow_inside_a_section_names_its_own_line_not_the_section() -> None:
    text = EXAMPLE.replace("  unanswered: revoke", "  unanswered: revoke\n  reminder_days: 7", 1)
    (problem,) = refusal(text).problems
    assert (problem.path, problem.line) == ("review", line_starting(text, "  reminder_days:"))


def test_the_lines_to_mark_are_each_line_named_once_in_order() -> None:
    error = CharterDocumentError(
        [Problem("b", "x", 9), Problem("", "no line"), Problem("a", "y", 3), Problem("c", "z", 9)]
    )
    assert error.lines() == [3, 9]


@pytest.mark.django_db
def test_the_editor_page_names_the_lines_of_its_problems_for_the_editor_to_mark(client, officer, charter_text) -> None:
    text = charter_text().replace("unanswered: revoke", "unanswered: ignore")
    line = line_starting(text, "  unanswered:")
    sign_in(client, officer)
    page = client.post("/registry/charters/new/", {"document": text}).content.decode()
    assert f'data-error-lines="{line}"' in page
    assert f"line {line}: review.unanswered: &#x27;ignore&#x27; is not one of revoke, escalate." in page


@pytest.mark.django_db
def test_a_document_that_starts_with_an_empty_line_keeps_it_so_the_line_numbers_hold(client, officer) -> None:
    text = "\n" + EXAMPLE.replace("  cadence_days: 90", "  cadence_days: often", 1)
    sign_in(client, officer)
    page = client.post("/registry/charters/new/", {"document": text}).content.decode()
    shown = re.search(r"<textarea[^>]*>(.*?)</textarea>", page, re.DOTALL)
    assert shown is not None and html.unescape(shown.group(1)) == "\n" + text  # a browser drops the first newline
