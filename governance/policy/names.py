"""The names behind policy lines and bundles, for the pages people read.

A compiled line names its subject as ``user:5`` or ``role:3``, its charter by slug and its asset version by
fingerprint; a bundle names the change that made it as a kind and an id. A page shows each by name, linked to its
page where it has one, with the raw line one click away. The names of a whole page come in one query per kind
(principals, roles, charters, asset versions; grants for the changes), however many lines it has, and only from
what the reader may see: another partner's principal is never named to a partner's people.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Q
from django.urls import reverse

from accord.validation import is_whole_number
from accounts.access import principals_visible_to
from accounts.models import User
from charters.access import charters_visible_to
from charters.models import AssetVersion, Charter, PolicyChange
from governance import access
from governance.models import Grant, PartnerRole, PolicyBundle
from governance.policy.bundle import Line


@dataclass(frozen=True)
class Name:
    """Something as a page names it: its label, its page (if it has one) and an aside such as its partner."""

    label: str
    url: str = ""
    aside: str = ""


@dataclass(frozen=True)
class ShownLine:
    """One policy line as a page shows it. A ``p`` line: ``subject`` may use ``asset`` for ``action`` and
    ``purpose`` under ``charter`` (``effect`` allow or deny). A ``g`` line: ``subject`` is a member of ``role``
    under ``charter``."""

    raw: str
    kind: str
    subject: Name
    charter: Name
    asset: Name | None = None
    action: str = ""
    purpose: str = ""
    effect: str = ""
    role: Name | None = None
    change: str = ""  # in a diff: "added" or "removed"

    @property
    def tint(self) -> str:
        """A diff's colour, as static/accord/accord.css names it: added lines green, removed ones red."""
        return {"added": "diff_add", "removed": "diff_sub"}.get(self.change, "")


def grant_name(grant_id: int, grantee: str = "") -> Name:
    return Name(f"grant #{grant_id}", f"{reverse('grant-list')}?grant={grant_id}", grantee)


def charter_name(charter: Charter) -> Name:
    return Name(charter.slug, reverse("charters:charter-detail", kwargs={"slug": charter.slug}), charter.partner.name)


def asset_version_name(version: AssetVersion) -> Name:
    return Name(str(version), reverse("charters:asset-detail", kwargs={"pk": version.asset_id}))


def bundle_name(bundle: PolicyBundle) -> Name:
    return Name(
        f"bundle {bundle.hash[:12]}", reverse("bundle-detail", kwargs={"ref": bundle.seq}), f"change {bundle.seq}"
    )


def asset_versions_visible_to(user: User) -> Q:
    """The asset versions whose names ``user`` may read: every one for the host's staff; for a partner's people,
    their own partner's assets and those its grants name."""
    if user.is_host_member:
        return Q()
    return Q(asset__owner_id=user.organisation_id) | Q(grants__partner_id=user.organisation_id)


def _subject_id(subject: str, kind: str) -> int | None:
    prefix, _, number = subject.partition(":")
    return int(number) if prefix == kind and is_whole_number(number) else None


class LineNames:
    """The names of one page's policy lines, read in one query per kind when made (``of``)."""

    def __init__(
        self,
        principals: dict[int, User],
        roles: dict[int, PartnerRole],
        charters: dict[str, Charter],
        versions: dict[str, AssetVersion],
    ) -> None:
        self.principals, self.roles, self.charters, self.versions = principals, roles, charters, versions

    @classmethod
    def of(
        cls,
        lines: Iterable[Line],
        *,
        viewer: User,
        subjects: Iterable[str] = (),
        charters: Iterable[str] = (),
        assets: Iterable[str] = (),
    ) -> LineNames:
        """The names in ``lines``, as bundles hold them (``("p", sub, charter, asset, action, purpose, effect)`` or
        ``("g", member, role, charter)``), and in the ``subjects``, ``charters`` and ``assets`` (fingerprints) a
        page names besides."""
        subjects, slugs, fingerprints = set(subjects), set(charters), set(assets)
        for line in lines:
            if line[0] == "p":
                subjects.add(line[1])
                slugs.add(line[2])
                fingerprints.add(line[3])
            else:
                subjects.update(line[1:3])
                slugs.add(line[3])
        user_ids = {pk for pk in (_subject_id(subject, "user") for subject in subjects) if pk is not None}
        role_ids = {pk for pk in (_subject_id(subject, "role") for subject in subjects) if pk is not None}
        principals = principals_visible_to(viewer).in_bulk(user_ids) if user_ids else {}
        # The roles' members are not shown: no prefetch of them.
        roles = access.roles_visible_to(viewer).prefetch_related(None).in_bulk(role_ids) if role_ids else {}
        by_slug = charters_visible_to(viewer).in_bulk(slugs, field_name="slug") if slugs else {}
        versions = (
            {
                version.fingerprint: version
                for version in AssetVersion.objects.select_related("asset")
                .filter(asset_versions_visible_to(viewer), fingerprint__in=fingerprints)
                .distinct()
            }
            if fingerprints
            else {}
        )
        return cls(principals, roles, by_slug, versions)

    def subject(self, subject: str) -> Name:
        """A line's subject or member: a principal by its username, a role by its slug, each with its partner."""
        user_id = _subject_id(subject, "user")
        if user_id is not None:
            principal = self.principals.get(user_id)
            if principal is None:
                return Name("a principal you cannot see")
            return Name(principal.username, aside=principal.organisation.name)
        role_id = _subject_id(subject, "role")
        if role_id is not None:
            role = self.roles.get(role_id)
            if role is None:
                return Name("a role you cannot see")
            return Name(f"role {role.slug}", aside=role.partner.name)
        return Name(subject)

    def charter(self, slug: str) -> Name:
        charter = self.charters.get(slug)
        return charter_name(charter) if charter is not None else Name(slug)

    def asset(self, fingerprint: str) -> Name:
        version = self.versions.get(fingerprint)
        if version is None:
            return Name(f"asset version {fingerprint[:12]}…", aside="not in the registry you see")
        return asset_version_name(version)

    def versions_named(self) -> dict[str, Name]:
        """Every asset version read, by fingerprint."""
        return {fingerprint: asset_version_name(version) for fingerprint, version in self.versions.items()}

    def show(self, line: Line) -> ShownLine:
        raw = ", ".join(line)
        if line[0] == "p":
            sub, dom, obj, act, purpose, effect = line[1:]
            return ShownLine(
                raw, "p", self.subject(sub), self.charter(dom), self.asset(obj), act, purpose, effect, role=None
            )
        member, role, dom = line[1:]
        return ShownLine(raw, "g", self.subject(member), self.charter(dom), role=self.subject(role))

    def show_all(self, lines: Iterable[Line]) -> list[ShownLine]:
        return [self.show(line) for line in lines]


def shown_lines(lines: Iterable[Line], *, viewer: User) -> list[ShownLine]:
    """``lines`` named for ``viewer``, in their order."""
    kept = list(lines)
    return LineNames.of(kept, viewer=viewer).show_all(kept)


def bundle_changes(bundles: Iterable[PolicyBundle], *, viewer: User) -> dict[int, Name]:
    """What made each bundle, by its ``seq``: the grant, charter or role the change was to, named and linked, in one
    query per kind of change."""
    kept = [bundle for bundle in bundles if bundle.change_kind and bundle.change_object is not None]
    ids: dict[str, set[int]] = {}
    for bundle in kept:
        assert bundle.change_object is not None  # noqa: S101 (filtered above)
        ids.setdefault(bundle.change_kind, set()).add(bundle.change_object)
    grants: dict[int, Grant] = {}
    charters: dict[int, Charter] = {}
    roles: dict[int, PartnerRole] = {}
    if PolicyChange.Kind.GRANT in ids:
        visible = (
            access.grants_visible_to(viewer).select_related(None).select_related("principal", "partner_role__partner")
        )
        grants = visible.in_bulk(ids[PolicyChange.Kind.GRANT])
    if PolicyChange.Kind.CHARTER in ids:
        charters = charters_visible_to(viewer).in_bulk(ids[PolicyChange.Kind.CHARTER])
    if PolicyChange.Kind.ROLE in ids:
        roles = access.roles_visible_to(viewer).prefetch_related(None).in_bulk(ids[PolicyChange.Kind.ROLE])
    named: dict[int, Name] = {}
    for bundle in kept:
        pk = bundle.change_object
        assert pk is not None  # noqa: S101 (filtered above)
        if bundle.change_kind == PolicyChange.Kind.GRANT:
            grant = grants.get(pk)
            named[bundle.seq] = grant_name(pk, grant.grantee if grant else "")
        elif bundle.change_kind == PolicyChange.Kind.CHARTER and pk in charters:
            named[bundle.seq] = Name(f"charter {charters[pk].slug}", charter_name(charters[pk]).url)
        elif bundle.change_kind == PolicyChange.Kind.ROLE and pk in roles:
            named[bundle.seq] = Name(f"role {roles[pk].slug}", aside=roles[pk].partner.name)
        else:
            named[bundle.seq] = Name(f"{bundle.change_kind} #{pk}")
    return named
