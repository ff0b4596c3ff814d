"""Key release under a charter that asks for no attestation (issue 26): the decision allows, but there is no attested
enclave key to wrap to, so nothing is released."""

import io

from accounts.services import actor_for
from audit.models import Event
from charters.models import AssetVersion
from governance.models import Artefact
from governance.vault.artefacts import artefact_store


def test_a_grant_that_needs_no_attestation_gets_no_key(api_as, a_principal, make_grant, atlas, officer):
    make_grant()
    version = AssetVersion.objects.get(fingerprint=atlas)
    artefact_store(
        source=io.BytesIO(b"weights"),
        name="w.bin",
        kind=Artefact.Kind.ASSET_FILE,
        asset_version=version,
        by=actor_for(officer),
    )
    body = {"asset": atlas, "action": "infer", "purpose": "safety-evaluation", "session": "ses_made-up"}
    response = api_as(a_principal).client.post("/api/v1/key-release", body, format="json")
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "attestation_required" and "without an attested enclave" in error["message"]
    assert Event.objects.filter(action="decision.allow", details__decision_id=error["decision_id"]).exists()
    assert Event.objects.filter(action="key.release_refused").count() == 1
    assert not Event.objects.filter(action="key.released").exists()
