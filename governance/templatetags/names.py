"""``{{ name|named }}``: a governance.policy.names.Name as a page shows it, its label linked to its page when it has
one, its aside (a partner, say) after it."""

from __future__ import annotations

from django import template
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString

from governance.policy.names import Name

register = template.Library()


@register.filter
def named(name: Name | None) -> SafeString | str:
    if name is None:
        return ""
    label = format_html('<a href="{}">{}</a>', name.url, name.label) if name.url else conditional_escape(name.label)
    if name.aside:
        return format_html('{} <span class="muted">({})</span>', label, name.aside)
    return label
