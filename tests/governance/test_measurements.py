"""The measurement allow-lists officers keep (governance/attestation/measurements.py and its pages): versions and the
history read back at any version, each refusal's message, the trail's record of a removal with its reason, racing
officers getting distinct versions, the charters that name a list, and who may open and change the pages."""

from __future__ import annotations

import hashlib
import json
import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from audit.models import Event
from charters.models import CharterVersion
from governance.attestation import measurements
from governance.attestation.evidence import measurement_digest
from governance.models import Measurement, MeasurementList
from tests.conftest import committing
from tests.factories import CharterVersionFactory
from tests.helpers import sign_in

SNP = "ab" * 48
OTHER_SNP = "cd" * 48
PCRS = {"pcr0": "01" * 48, "pcr1": "02" * 48, "pcr2": "03" * 48}


@pytest.fixture
def serving(officer) -> MeasurementList:
    return measurements.measurement_list_create(officer=officer, name="atlas-serving", title="Atlas in enclaves")


def add_snp(officer, allow_list, value=SNP, note="atlas image 1.2"):
    return measurements.measurement_add(
        officer=officer, allow_list=allow_list, platform="snp", values={"launch_measurement": value}, note=note
    )


def refusal(error: pytest.ExceptionInfo[ValidationError]) -> str:
    return " ".join(error.value.messages)


# --- Services: versions and history ------------------------------------------------------------------------


def test_a_new_list_is_version_one_and_empty_and_its_creation_is_in_the_trail(serving, officer):
    assert serving.version == 1 and serving.entries.count() == 0
    created = Event.objects.get(action="measurements.list_created")
    assert created.actor_id == str(officer.pk) and created.target_id == str(serving.pk)
    assert created.details == {"allow_list": "atlas-serving", "title": "Atlas in enclaves", "version": 1}


def test_each_add_and_remove_makes_a_new_version_and_stamps_the_entry(serving, officer):
    first = add_snp(officer, serving)
    second = measurements.measurement_add(officer=officer, allow_list=serving, platform="nitro", values=PCRS, note="")
    removed = measurements.measurement_remove(officer=officer, entry=first, reason="Image 1.2 has a CVE.")
    serving.refresh_from_db()
    assert (first.added_in, second.added_in, removed.removed_in, serving.version) == (2, 3, 4, 4)
    assert removed.removed_by == officer and removed.removed_at is not None
    assert list(measurements.measurement_entries(serving)) == [second]


def test_the_entries_read_back_as_they_stood_at_each_version(serving, officer):
    first = add_snp(officer, serving)
    second = add_snp(officer, serving, OTHER_SNP)
    measurements.measurement_remove(officer=officer, entry=first, reason="Retired.")
    at = {version: list(measurements.measurement_entries(serving, version=version)) for version in range(1, 5)}
    assert at == {1: [], 2: [first], 3: [first, second], 4: [second]}


def test_the_history_lists_every_version_newest_first_with_the_removals_reason(serving, officer):
    first = add_snp(officer, serving)
    measurements.measurement_remove(officer=officer, entry=first, reason="Image 1.2 has a CVE.")
    history = measurements.measurement_history(serving)
    assert [(change.version, change.kind, change.words) for change in history] == [
        (3, "removed", "Image 1.2 has a CVE."),
        (2, "added", "atlas image 1.2"),
        (1, "created", "Atlas in enclaves"),
    ]
    assert {change.by for change in history} == {officer.username}


def test_a_removal_is_recorded_in_the_trail_with_the_list_version_values_and_reason(serving, officer):
    entry = add_snp(officer, serving)
    measurements.measurement_remove(officer=officer, entry=entry, reason="Image 1.2 has a CVE.")
    removed = Event.objects.get(action="measurements.entry_removed")
    assert removed.reason == "Image 1.2 has a CVE."
    assert removed.target_type == "governance.measurement" and removed.target_id == str(entry.pk)
    assert removed.details == {
        "allow_list": "atlas-serving",
        "version": 3,
        "platform": "snp",
        "values": {"launch_measurement": SNP},
        "reason": "Image 1.2 has a CVE.",
        "sessions_ended": 0,
    }
    added = Event.objects.get(action="measurements.entry_added")
    assert added.details["note"] == "atlas image 1.2" and added.details["version"] == 2


def test_values_are_stored_in_lower_case_under_the_digest_the_verifiers_compute(serving, officer):
    entry = add_snp(officer, serving, f"  {SNP.upper()} ")
    assert entry.values == {"launch_measurement": SNP}
    assert entry.digest == measurement_digest("snp", {"launch_measurement": SNP})


def test_tdx_takes_its_mrtd_with_the_rtmrs_given_and_leaves_out_blank_ones(serving, officer):
    entry = measurements.measurement_add(
        officer=officer, allow_list=serving, platform="tdx", values={"mrtd": SNP, "rtmr0": OTHER_SNP, "rtmr1": ""}
    )
    assert entry.values == {"mrtd": SNP, "rtmr0": OTHER_SNP}


# --- Services: refusals ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "values", "message"),
    [
        ("snp", {}, "A measurement for AMD SEV-SNP needs its launch measurement: copy it from the x-ms-sevsnpvm"),
        ("snp", {"launch_measurement": "ab" * 32},
         "must be 96 hex digits (48 bytes, a SHA-384 digest); this one has 64"),
        ("snp", {"launch_measurement": "zz" * 48}, "must be hex digits (0-9, a-f) only"),
        ("snp", {"launch_measurement": SNP, "pcr0": SNP},
         "AMD SEV-SNP measurements carry launch_measurement only, not pcr0"),
        ("tdx", {"rtmr0": SNP}, "A measurement for Intel TDX needs its MRTD"),
        ("tdx", {"mrtd": SNP, "rtmr2": "ab"}, "The RTMR2 must be 96 hex digits"),
        ("nitro", {"pcr0": SNP, "pcr1": SNP}, "for AWS Nitro Enclaves needs its PCR2: copy it from nitro-cli"),
        ("sgx", {"mrenclave": SNP}, "Choose the platform the enclave runs on: snp (AMD SEV-SNP)"),
    ],
)  # fmt: skip
def test_values_a_platform_does_not_carry_are_refused_with_what_to_do(serving, officer, platform, values, message):
    with pytest.raises(ValidationError) as refused:
        measurements.measurement_add(officer=officer, allow_list=serving, platform=platform, values=values)
    assert message in refusal(refused)
    assert serving.entries.count() == 0 and MeasurementList.objects.get(pk=serving.pk).version == 1


def test_an_environment_already_on_the_list_is_refused_naming_its_entry(serving, officer):
    entry = add_snp(officer, serving)
    with pytest.raises(ValidationError) as refused:
        add_snp(officer, serving, SNP.upper(), note="the same, typed again")
    assert f"already on this list as entry #{entry.pk}" in refusal(refused)


def test_an_environment_removed_may_be_put_back_as_a_new_entry(serving, officer):
    entry = add_snp(officer, serving)
    measurements.measurement_remove(officer=officer, entry=entry, reason="By mistake.")
    again = add_snp(officer, serving)
    assert again.pk != entry.pk and again.added_in == 4


def test_removing_an_entry_already_removed_is_refused(serving, officer):
    entry = add_snp(officer, serving)
    measurements.measurement_remove(officer=officer, entry=entry, reason="Retired.")
    with pytest.raises(ValidationError) as refused:
        measurements.measurement_remove(officer=officer, entry=entry, reason="Again.")
    assert f"Entry #{entry.pk} was already removed from atlas-serving, in version 3" in refusal(refused)
    assert MeasurementList.objects.get(pk=serving.pk).version == 3


def test_a_removal_needs_a_reason(serving, officer):
    entry = add_snp(officer, serving)
    with pytest.raises(ValidationError) as refused:
        measurements.measurement_remove(officer=officer, entry=entry, reason="  ")
    assert "Say why this measurement comes off the list" in refusal(refused)
    assert Measurement.objects.get(pk=entry.pk).removed_at is None


@pytest.mark.parametrize("name", ["Atlas", "atlas_serving", "-atlas", "", "a" * 65])
def test_a_list_name_a_charter_could_not_name_is_refused(officer, name):
    with pytest.raises(ValidationError) as refused:
        measurements.measurement_list_create(officer=officer, name=name, title="")
    assert "lowercase letters, digits and dashes" in refusal(refused)


def test_a_second_list_of_the_same_name_is_refused(serving, officer):
    with pytest.raises(ValidationError) as refused:
        measurements.measurement_list_create(officer=officer, name="atlas-serving", title="again")
    assert "There is a measurement list named atlas-serving already" in refusal(refused)


def test_only_officers_change_the_lists(serving, auditor, a_admin):
    for person in (auditor, a_admin):
        with pytest.raises(PermissionDenied):
            measurements.measurement_list_create(officer=person, name="mine", title="")
        with pytest.raises(PermissionDenied):
            add_snp(person, serving)
    assert not Event.objects.filter(action="measurements.entry_added").exists()


@committing
def test_officers_adding_at_the_same_time_get_distinct_versions(officer):
    if connection.vendor != "postgresql":
        pytest.skip("racing writers need PostgreSQL: set DATABASE_URL to run this")
    allow_list = measurements.measurement_list_create(officer=officer, name="racing", title="")
    start, versions, errors = threading.Barrier(6), [], []

    def add(index: int) -> None:
        try:
            start.wait()
            versions.append(add_snp(officer, allow_list, f"{index:02x}" * 48).added_in)
        except Exception as error:  # the assertion below shows what went wrong
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == [] and sorted(versions) == [2, 3, 4, 5, 6, 7]
    assert MeasurementList.objects.get(pk=allow_list.pk).version == 7


# --- Selectors ---------------------------------------------------------------------------------------------


def test_the_lists_count_only_their_current_entries(serving, officer):
    entry = add_snp(officer, serving)
    add_snp(officer, serving, OTHER_SNP)
    measurements.measurement_remove(officer=officer, entry=entry, reason="Retired.")
    measurements.measurement_list_create(officer=officer, name="empty", title="")
    assert [(found.name, found.current_entries) for found in measurements.measurement_lists()] == [
        ("atlas-serving", 1),
        ("empty", 0),
    ]


def _naming(version: CharterVersion, *lists: str) -> None:
    document = dict(version.document)
    document["actions"] = {
        "model": [
            {
                "action": "infer",
                "purposes": ["benchmarking"],
                "attestation": {"verifiers": ["azure"], "measurements": list(lists)},
            },
            {"action": "fine_tune", "purposes": ["benchmarking"]},
        ]
    }
    # A version's terms are kept by its content hash, so the document and its hash change together, as they would.
    content_hash = hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()
    CharterVersion.objects.filter(pk=version.pk).update(document=document, content_hash=content_hash)


def test_the_charters_naming_a_list_are_those_whose_active_version_names_it(serving, officer):
    naming = CharterVersionFactory()
    _naming(naming, "atlas-serving", "other")
    draft = CharterVersionFactory(example="helix-finetune", status=CharterVersion.Status.DRAFT)
    _naming(draft, "atlas-serving")
    _naming(CharterVersionFactory(example="northwind-evaluation", charter__slug="unrelated"), "other")
    assert measurements.charters_naming("atlas-serving") == [CharterVersion.objects.get(pk=naming.pk)]


# --- Pages ---------------------------------------------------------------------------------------------------


def test_an_officer_creates_a_list_adds_and_removes_an_entry_from_the_pages(client, officer):
    sign_in(client, officer)
    created = client.post("/governance/measurements/", {"name": "atlas-serving", "title": "Atlas"})
    assert created.status_code == 302 and created["Location"] == "/governance/measurements/atlas-serving/"
    added = client.post(
        "/governance/measurements/atlas-serving/",
        {"platform": "snp", "launch_measurement": SNP.upper(), "note": "image 1.2"},
        follow=True,
    )
    entry = Measurement.objects.get()
    assert f"Entry #{entry.pk} (AMD SEV-SNP) is on atlas-serving, in version 2." in added.content.decode()
    assert SNP in added.content.decode()
    removed = client.post(
        f"/governance/measurements/atlas-serving/entries/{entry.pk}/remove/", {"reason": "CVE in 1.2"}, follow=True
    )
    page = removed.content.decode()
    assert f"Entry #{entry.pk} is off atlas-serving, in version 3." in page and "CVE in 1.2" in page
    assert Measurement.objects.get().removed_in == 3


def test_the_page_shows_the_list_as_of_an_earlier_version(client, officer, serving):
    entry = add_snp(officer, serving)
    measurements.measurement_remove(officer=officer, entry=entry, reason="Retired.")
    sign_in(client, officer)
    then = client.get("/governance/measurements/atlas-serving/?version=2").content.decode()
    now = client.get("/governance/measurements/atlas-serving/").content.decode()
    assert "Entries as of version 2" in then and f'id="entry-{entry.pk}"' in then
    assert 'action="/governance/measurements/atlas-serving/entries/' not in then  # history is read, not changed
    assert f'id="entry-{entry.pk}"' not in now


def test_the_page_links_the_charters_that_name_the_list(client, officer, serving):
    _naming(CharterVersionFactory(), "atlas-serving")
    sign_in(client, officer)
    page = client.get("/governance/measurements/atlas-serving/").content.decode()
    assert 'href="/registry/charters/northwind-evaluation/"' in page


@pytest.mark.parametrize(
    ("path", "data", "message"),
    [
        ("/governance/measurements/", {"name": "Not A Slug"}, "lowercase letters, digits and dashes"),
        ("/governance/measurements/atlas-serving/", {"platform": "snp", "launch_measurement": "ab"},
         "must be 96 hex digits"),
        ("/governance/measurements/atlas-serving/", {"platform": "nitro", "pcr0": SNP}, "needs its PCR1"),
        ("/governance/measurements/atlas-serving/", {"platform": "mystery"}, "Select a valid choice"),
    ],
)  # fmt: skip
def test_bad_input_shows_the_page_again_as_a_400_with_the_message(client, officer, serving, path, data, message):
    sign_in(client, officer)
    response = client.post(path, data)
    assert response.status_code == 400 and message in response.content.decode()


def test_a_removal_without_a_reason_or_of_a_removed_entry_is_a_400_with_the_message(client, officer, serving):
    entry = add_snp(officer, serving)
    sign_in(client, officer)
    path = f"/governance/measurements/atlas-serving/entries/{entry.pk}/remove/"
    without = client.post(path, {"reason": ""})
    assert without.status_code == 400 and "Say why this measurement comes off the list" in without.content.decode()
    client.post(path, {"reason": "Retired."})
    again = client.post(path, {"reason": "Again."})
    assert again.status_code == 400 and "was already removed" in again.content.decode()


def test_a_version_the_list_never_had_is_a_400(client, officer, serving):
    sign_in(client, officer)
    for asked in ("0", "2", "two"):
        response = client.get(f"/governance/measurements/atlas-serving/?version={asked}")
        assert response.status_code == 400 and "has versions 1 to 1" in response.content.decode()


def test_an_auditor_reads_the_lists_but_cannot_change_them(client, auditor, officer, serving):
    entry = add_snp(officer, serving)
    sign_in(client, auditor)
    index = client.get("/governance/measurements/").content.decode()
    page = client.get("/governance/measurements/atlas-serving/").content.decode()
    assert "atlas-serving" in index and "Create the list" not in index
    assert SNP in page and "Add a measurement" not in page and "/remove/" not in page
    refused = [
        client.post("/governance/measurements/", {"name": "mine"}),
        client.post("/governance/measurements/atlas-serving/", {"platform": "snp", "launch_measurement": OTHER_SNP}),
        client.post(f"/governance/measurements/atlas-serving/entries/{entry.pk}/remove/", {"reason": "No."}),
    ]
    assert [response.status_code for response in refused] == [403, 403, 403]
    assert Measurement.objects.get().removed_at is None and MeasurementList.objects.count() == 1


def test_a_partner_admin_is_refused_the_lists_and_learns_no_list_exists(client, a_admin, officer, serving):
    entry = add_snp(officer, serving)
    sign_in(client, a_admin)
    assert client.get("/governance/measurements/").status_code == 403
    for response in (
        client.get("/governance/measurements/atlas-serving/"),
        client.post(f"/governance/measurements/atlas-serving/entries/{entry.pk}/remove/", {"reason": "Mine."}),
    ):
        assert response.status_code == 404 and "atlas-serving" not in response.content.decode()
    assert Measurement.objects.get().removed_at is None


def test_the_menu_offers_measurements_to_the_hosts_staff_only(client, officer, auditor, a_admin):
    for person, offered in ((officer, True), (auditor, True), (a_admin, False)):
        sign_in(client, person)
        page = client.get("/").content.decode() if person.is_host_member else client.get("/portal/").content.decode()
        assert ('href="/governance/measurements/"' in page) is offered, person.username


def test_the_trail_names_the_list_and_the_entry_and_links_them(client, officer, serving):
    entry = add_snp(officer, serving)
    measurements.measurement_remove(officer=officer, entry=entry, reason="CVE in 1.2")
    sign_in(client, officer)
    page = client.get("/trail/").content.decode()
    list_page = "/governance/measurements/atlas-serving/"
    assert f'<a href="{list_page}">measurement list atlas-serving</a>' in page
    assert f'<a href="{list_page}#entry-{entry.pk}">AMD SEV-SNP measurement #{entry.pk} on atlas-serving</a>' in page
    assert f'<a href="{list_page}" title="atlas-serving">atlas-serving</a>' in page  # the details' allow_list
    assert "governance.measurement" not in page and "CVE in 1.2" in page
