"""Names on pages (governance.policy.names): ``{{ name|named }}`` shows a Name, its label linked to its page when it
has one, its aside (a partner, say) after it; ``asset_names`` names a page's asset versions by fingerprint."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString

from governance.policy.names import LineNames, Name

register = template.Library()


@register.filter
def named(name: Name | None) -> SafeString | str:
    if name is None:
        return ""
    label = format_html('<a href="{}">{}</a>', name.url, name.label) if name.url else conditional_escape(name.label)
    if name.aside:
        return format_html('{} <span class="muted">({})</span>', label, name.aside)
    return label


@register.simple_tag(takes_context=True)
def asset_names(context: template.Context, fingerprints: Iterable[str]) -> dict[str, Name]:
    """``{% asset_names fingerprints as assets %}``: the asset versions of a page's fingerprints by name, for
    ``{{ assets|name_of:fingerprint|named }}``, in one query, from what the signed-in reader may see."""
    return LineNames.of((), viewer=context["request"].user, assets=fingerprints).versions_named()


@register.filter
def name_of(names: Mapping[str, Name], key: str) -> Name | None:
    return names.get(key)


@register.filter
def example_assets(report: Any) -> list[str]:
    """The fingerprints a what-if report's examples ask for."""
    return [example.asset for partner in report.partners for example in partner.examples]
