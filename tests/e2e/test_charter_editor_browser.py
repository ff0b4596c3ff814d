"""The charter editor in Chromium: CodeMirror with line numbers under the strict CSP (a refusal fails the test:
tests/e2e/browser.py), the line a problem names marked, and the text it holds the text the form posts."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import expect

from accounts.models import User
from charters.models import CharterVersion
from tests.conftest import committing
from tests.e2e.browser import Browse, go, log_in

pytestmark = [pytest.mark.browser, committing]


def test_an_officer_sees_the_line_of_a_problem_marked_fixes_it_there_and_saves(
    browse: Browse, officer: User, charter_text: Callable[..., str]
) -> None:
    text = charter_text().replace("unanswered: revoke", "unanswered: ignore")
    line = next(number for number, content in enumerate(text.splitlines(), 1) if "unanswered:" in content)
    with browse() as page:
        log_in(page, officer)
        go(page, "Charters")
        page.get_by_role("button", name="Write a charter").click()

        editor = page.locator(".CodeMirror")
        expect(editor).to_be_visible()
        expect(page.locator("textarea#document")).to_be_hidden()
        expect(editor.locator(".CodeMirror-linenumber").filter(has_text=re.compile(r"^1$"))).to_be_visible()
        # The hidden textarea keeps its label for the form; people (and screen readers) reach the editor's own.
        page.get_by_role("textbox", name="Charter (YAML)").focus()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(text)
        expect(page.locator("textarea#document")).to_have_value(text)  # kept in step as it is typed
        page.get_by_role("button", name="Save draft").click()

        expect(page).to_have_url(re.compile(r"/registry/charters/new/$"))
        expect(page.locator("#problems")).to_contain_text(f"line {line}: review.unanswered: 'ignore' is not one of")
        marked = editor.locator(".yaml-editor-problem-gutter .CodeMirror-linenumber")
        expect(marked).to_have_text([str(line)])
        bad_line = editor.locator(".CodeMirror-code > div").nth(line - 1)
        expect(bad_line.locator(".yaml-editor-problem")).to_have_count(1)
        expect(bad_line).to_contain_text("unanswered: ignore")
        editor.scroll_into_view_if_needed()
        expect(bad_line).to_be_in_viewport()  # the editor scrolled to it

        bad_line.locator(".CodeMirror-line").click()
        page.keyboard.press("End")
        for _ in "ignore":
            page.keyboard.press("Backspace")
        page.keyboard.type("revoke")
        expect(page.locator("textarea#document")).to_have_value(re.compile(r"^  unanswered: revoke$", re.MULTILINE))
        page.get_by_role("button", name="Save draft").click()

        expect(page).to_have_url(re.compile(r"/registry/charters/northwind-evaluation/$"))
        expect(page.locator("ul.messages")).to_contain_text("Charter northwind-evaluation saved as draft version 1.")

    version = CharterVersion.objects.get(charter__slug="northwind-evaluation")
    assert version.document["review"]["unanswered"] == "revoke"
