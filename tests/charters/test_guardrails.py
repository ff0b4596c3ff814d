import copy
import json

import pytest
import yaml

from charters import documents, guardrails
from governance.ops.demo import demo_fingerprint
from tests.factories import example


def break_every_guardrail(document):
    document["validity"].update({"from": "2027-09-01", "until": "2027-08-31"})
    document["purposes"].append({"name": "benchmarking", "description": "Listed again."})
    document["assets"]["shareable"] += [
        {"asset": "atlas-70b", "version": "2.0"},
        {"asset": "atlas-8b", "version": "1.0"},
        {"asset": "northwind-eval-suite", "version": "1.0", "fingerprint": "0" * 64},
    ]
    document["assets"]["proprietary"].append({"asset": "atlas-7b", "version": "1.1"})
    document["actions"]["model"][0]["purposes"].append("red-teaming")
    document["actions"]["model"].append({"action": "download_weights", "purposes": ["benchmarking", "probing"]})
    document["misuse"][1]["params"] = {"count": 3}
    document["trainings"].append(dict(document["trainings"][0]))
    document["playbook"]["name"] = "another-playbook"
    document["exit_plan"]["items"].append(
        {"asset": "atlas-7b-helix-ft", "version": "1.0", "disposition": "destroy", "retention_days": 0}
    )


def problems_of(text, host, partner_a):
    parsed = documents.parse(text)
    documents.validate_schema(parsed)
    return [str(problem) for problem in guardrails.check(parsed, partner=partner_a, host=host)]


def test_a_charter_breaking_every_guardrail_gets_each_problem_by_its_line(
    demo_registry, host, partner_a, charter_window
):
    document = example("northwind-evaluation", window=charter_window)
    break_every_guardrail(document)

    problems = problems_of(yaml.safe_dump(document, sort_keys=False), host, partner_a)

    assert problems == [
        "line 9: validity.until: the window must end after it starts (2027-09-01 is not before 2027-08-31). "
        "Correct validity.from or validity.until.",
        "line 15: purposes[2].name: purpose 'benchmarking' is listed twice.",
        "line 20: actions.model[0].purposes: 'red-teaming' is not one of this charter's purposes "
        "(safety-evaluation, benchmarking, benchmarking). Add it under purposes or remove it here.",
        "line 44: actions.model[3].action: download_weights is never permitted for a restricted or proprietary "
        "asset, and this charter shares sentinel-classifier 0.9, atlas-70b 2.0 (a model). Remove download_weights "
        "for models, or stop sharing those versions.",
        "line 45: actions.model[3].purposes: 'probing' is not one of this charter's purposes "
        "(safety-evaluation, benchmarking, benchmarking). Add it under purposes or remove it here.",
        "line 63: assets.shareable[4]: atlas-70b 2.0 is classified proprietary, so it can never be shareable. "
        "List it under assets.proprietary instead.",
        "line 65: assets.shareable[5]: no asset 'atlas-8b' with version '1.0' is registered for meridian-ai or "
        "northwind. Register it in the asset registry first, or correct the name and version.",
        "line 67: assets.shareable[6]: the fingerprint given does not match northwind-eval-suite 1.0 in the "
        f"registry ({demo_fingerprint('northwind-eval-suite', '1.0')}). Remove it or correct it.",
        "line 71: assets.proprietary[0]: atlas-70b 2.0 is listed as both shareable and proprietary. Keep it in one "
        "list.",
        "line 73: assets.proprietary[1]: atlas-7b 1.1 is listed as both shareable and proprietary. Keep it in one "
        "list.",
        "line 84: misuse[1].params: rule denied_exports needs window_minutes under params.",
        "line 109: trainings[1].name: training 'responsible-evaluation' is listed twice.",
        "line 124: exit_plan.items[3]: no asset 'atlas-7b-helix-ft' with version '1.0' is registered for "
        "meridian-ai or northwind. Register it in the asset registry first, or correct the name and version.",
        "line 134: playbook.name: this file defines playbook 'another-playbook' but incident_response.playbook "
        "names 'model-misuse'. Make them the same.",
    ]


def test_problems_on_one_line_come_in_the_order_of_the_rules(demo_registry, host, partner_a, charter_window):
    document = example("northwind-evaluation", window=charter_window)
    break_every_guardrail(document)

    # JSON is YAML on a single line: every problem is on line 1, so only the rules' order sorts them.
    problems = problems_of(json.dumps(document), host, partner_a)

    assert [problem.split(": ")[1] for problem in problems] == [
        "validity.until",
        "purposes[2].name",
        "assets.shareable[4]",
        "assets.shareable[5]",
        "assets.shareable[6]",
        "assets.proprietary[0]",
        "assets.proprietary[1]",
        "actions.model[0].purposes",
        "actions.model[3].purposes",
        "actions.model[3].action",
        "misuse[1].params",
        "trainings[1].name",
        "playbook.name",
        "exit_plan.items[3]",
    ]


def test_checking_a_charter_leaves_its_document_as_it_was(demo_registry, host, partner_a, charter_window):
    document = example("northwind-evaluation", window=charter_window)
    break_every_guardrail(document)
    parsed = documents.parse(yaml.safe_dump(document, sort_keys=False))
    before = copy.deepcopy(parsed.data)

    guardrails.check(parsed, partner=partner_a, host=host)

    assert parsed.data == before


def test_pinning_gives_each_registered_asset_its_fingerprint_in_a_copy(demo_registry, host, partner_a, charter_window):
    parsed = documents.parse(yaml.safe_dump(example("northwind-evaluation", window=charter_window), sort_keys=False))

    pinned = guardrails.pinned(parsed, partner=partner_a, host=host)

    assert [ref["fingerprint"] for ref in pinned.data["assets"]["shareable"]] == [
        demo_fingerprint("atlas-7b", "1.0"),
        demo_fingerprint("atlas-7b", "1.1"),
        demo_fingerprint("sentinel-classifier", "0.9"),
        demo_fingerprint("northwind-eval-suite", "1.0"),
    ]
    assert pinned.data["assets"]["proprietary"][0]["fingerprint"] == demo_fingerprint("atlas-70b", "2.0")
    assert not any("fingerprint" in ref for ref in parsed.data["assets"]["shareable"])
    assert pinned.lines == parsed.lines


@pytest.mark.parametrize("missing", ["atlas-8b", "atlas-7b-helix-ft"])
def test_pinning_leaves_an_unregistered_asset_as_it_was_written(
    demo_registry, host, partner_a, charter_window, missing
):
    document = example("northwind-evaluation", window=charter_window)
    document["assets"]["shareable"].append({"asset": missing, "version": "1.0"})
    parsed = documents.parse(yaml.safe_dump(document, sort_keys=False))

    pinned = guardrails.pinned(parsed, partner=partner_a, host=host)

    assert pinned.data["assets"]["shareable"][-1] == {"asset": missing, "version": "1.0"}
