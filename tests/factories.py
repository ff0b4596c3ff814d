"""factory_boy factories with explicit relations. Personas live in conftest.py and go through the services.

The charter and grant factories write rows, not history: a version built here is active and approved without
being applied, submitted or accepted, and records no event. They are for tests that need a collaboration's state
(reviews, expiry, pages); a test of the lifecycle itself walks it through the services (tests/world.py).
"""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import factory
import yaml
from django.utils import timezone

from accounts.models import Organisation, User
from accounts.roles import Role
from accounts.services import host_organisation_ensure, user_create
from audit.trail import Actor
from charters import documents
from charters.models import Asset, AssetVersion, Charter, CharterVersion, ExitPlan, IncidentPlaybook
from governance.models import Grant
from tests.conftest import RUN_CHARTER_WINDOW, CharterWindow

EXAMPLES = Path(__file__).resolve().parents[1] / "charters" / "examples"
FACTORIES = Actor.system("manage.py test-factories")  # the operator, as tests/conftest.py SETUP


def example(name: str = "northwind-evaluation", *, window: CharterWindow = RUN_CHARTER_WINDOW) -> dict[str, Any]:
    """An example charter's parsed form, valid for ``window``."""
    document = yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text())
    document["validity"] = window.validity()
    return document


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    name = factory.Sequence(lambda n: f"Partner {n}")
    slug = factory.Sequence(lambda n: f"partner-{n}")
    kind = Organisation.Kind.PARTNER


class AssetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Asset

    name = factory.Sequence(lambda n: f"model-{n}")
    kind = Asset.Kind.MODEL
    owner = factory.SubFactory(PartnerFactory)


class AssetVersionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AssetVersion

    asset = factory.SubFactory(AssetFactory)
    label = factory.Sequence(lambda n: f"1.{n}")
    fingerprint = factory.Sequence(lambda n: hashlib.sha256(f"artefact-{n}".encode()).hexdigest())
    size_bytes = 1024
    classification = AssetVersion.Classification.SHAREABLE
    storage_uri = factory.LazyAttribute(lambda version: f"s3://tests/{version.asset.name}/{version.label}")


def _person(username: str, organisation: Organisation, role: Role) -> User:
    # Through the service, so the person has the role's group as every persona does.
    return user_create(username=username, organisation=organisation, role=role, by=FACTORIES)


def _officer(n: int) -> User:
    return _person(f"officer-{n}", host_organisation_ensure(name="Meridian AI", by=FACTORIES), Role.OFFICER)


class PlaybookFactory(factory.django.DjangoModelFactory):
    """The playbook an example charter defines (``example`` names it), stored once however many versions use it."""

    class Meta:
        model = IncidentPlaybook
        django_get_or_create = ("slug",)

    class Params:
        example = "northwind-evaluation"

    slug = factory.LazyAttribute(lambda playbook: example(playbook.example)["playbook"]["name"])
    title = factory.LazyAttribute(lambda playbook: example(playbook.example)["playbook"]["title"])
    severity_levels = factory.LazyAttribute(lambda playbook: example(playbook.example)["playbook"]["severity_levels"])
    notify = factory.LazyAttribute(lambda playbook: example(playbook.example)["playbook"].get("notify", []))
    steps = factory.LazyAttribute(lambda playbook: example(playbook.example)["playbook"]["steps"])


class CharterFactory(factory.django.DjangoModelFactory):
    """An active charter named and titled as an example charter (``example``); its versions set its content."""

    class Meta:
        model = Charter

    class Params:
        example = "northwind-evaluation"

    slug = factory.LazyAttribute(lambda charter: example(charter.example)["name"])
    partner = factory.SubFactory(PartnerFactory)
    title = factory.LazyAttribute(lambda charter: example(charter.example)["title"])
    status = Charter.Status.ACTIVE


def _content(version: Any) -> dict[str, Any]:
    """The example's version content: the document without its name, partner, playbook and exit plan."""
    document = example(version.example, window=version.window)
    for key in ("name", "partner", "playbook", "exit_plan"):
        document.pop(key)
    return document


def _exit_plan(version: Any) -> dict[str, Any]:
    plan = copy.deepcopy(example(version.example, window=version.window)["exit_plan"])
    plan.setdefault("knowledge_transfer", [])
    return plan


class CharterVersionFactory(factory.django.DjangoModelFactory):
    """Version 1 of a charter, active and approved, with an example's content (valid for the run's window unless
    ``window`` says otherwise) and its exit plan; the charter's active version is set to it.

    ``CharterVersionFactory(charter__partner=partner_a, author=officer, approved_by=second_officer)``
    """

    class Meta:
        model = CharterVersion
        skip_postgeneration_save = True

    class Params:
        example = "northwind-evaluation"
        window = RUN_CHARTER_WINDOW

    charter = factory.SubFactory(CharterFactory, example=factory.SelfAttribute("..example"))
    number = 1
    status = CharterVersion.Status.ACTIVE
    document = factory.LazyAttribute(_content)
    content_hash = factory.LazyAttribute(
        lambda version: documents.content_hash({**version.document, "exit_plan": _exit_plan(version)})
    )
    agreement_hash = factory.LazyAttribute(
        lambda version: documents.content_hash(
            documents.agreement_of({**version.document, "exit_plan": _exit_plan(version)})
        )
    )
    playbook = factory.SubFactory(PlaybookFactory, example=factory.SelfAttribute("..example"))
    author = factory.Sequence(_officer)
    approved_by = factory.Sequence(lambda n: _officer(n + 10_000))
    submitted_at = factory.LazyFunction(timezone.now)
    approved_at = factory.LazyFunction(timezone.now)

    exit_plan = factory.RelatedFactory(
        "tests.factories.ExitPlanFactory",
        factory_related_name="version",
        example=factory.SelfAttribute("..example"),
        window=factory.SelfAttribute("..window"),
    )

    @factory.post_generation
    def activation(version: CharterVersion, create: bool, extracted: Any, **kwargs: Any) -> None:
        if not create:
            return
        version.contributors.add(version.author)
        if version.status == CharterVersion.Status.ACTIVE:
            Charter.objects.filter(pk=version.charter_id).update(active_version=version)
            version.charter.active_version = version


class ExitPlanFactory(factory.django.DjangoModelFactory):
    """An example charter's exit plan, for the version ``CharterVersionFactory`` builds."""

    class Meta:
        model = ExitPlan

    class Params:
        example = "northwind-evaluation"
        window = RUN_CHARTER_WINDOW
        plan = factory.LazyAttribute(_exit_plan)

    items = factory.LazyAttribute(lambda exit_plan: exit_plan.plan["items"])
    outputs_owner = factory.LazyAttribute(lambda exit_plan: exit_plan.plan["outputs_owner"])
    knowledge_transfer = factory.LazyAttribute(lambda exit_plan: exit_plan.plan["knowledge_transfer"])
    partner_attests_destruction = factory.LazyAttribute(lambda exit_plan: exit_plan.plan["partner_attests_destruction"])


class GrantFactory(factory.django.DjangoModelFactory):
    """An active grant under a charter version (by default a new one from ``CharterVersionFactory``) for a principal
    of the charter's partner, approved by an officer, for the charter's whole window.

    ``GrantFactory(charter_version=version, principal=a_principal, asset_version=atlas, approved_by=officer)``
    """

    class Meta:
        model = Grant

    class Params:
        window = RUN_CHARTER_WINDOW

    charter_version = factory.SubFactory(CharterVersionFactory)
    charter = factory.SelfAttribute("charter_version.charter")
    partner = factory.LazyAttribute(lambda grant: grant.charter.partner)
    principal = factory.LazyAttributeSequence(
        lambda grant, n: _person(f"principal-{n}", grant.partner, Role.PARTNER_PRINCIPAL)
    )
    asset_version = factory.SubFactory(AssetVersionFactory)
    actions = factory.LazyFunction(lambda: ["infer", "evaluate"])
    purposes = factory.LazyFunction(lambda: ["safety-evaluation", "benchmarking"])
    valid_from = factory.SelfAttribute("window.valid_from")
    valid_until = factory.SelfAttribute("window.valid_until")
    daily_quota = 1000
    monthly_quota = 10000
    rate_per_minute = 1000
    status = Grant.Status.ACTIVE
    justification = "Safety evaluation runs."
    requested_by = factory.LazyAttributeSequence(
        lambda grant, n: _person(f"partner-admin-{n}", grant.partner, Role.PARTNER_ADMIN)
    )
    approved_by = factory.Sequence(lambda n: _officer(n + 20_000))
    decided_at = factory.LazyFunction(timezone.now)
