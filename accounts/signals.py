"""What a login writes into its new session: when it began and from where (accounts/sessions.py keeps them in
columns), so that its lifetime can be enforced and its person can recognise it in their list of sessions."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest
from django.utils import timezone

from accounts.sessions import ADDRESS, AGENT, SEEN, STARTED


@receiver(user_logged_in)
def session_stamp(sender: Any, request: HttpRequest | None, user: Any, **_: Any) -> None:
    if request is None or not hasattr(request, "session"):
        return
    now = timezone.now().isoformat()
    request.session[STARTED] = now
    request.session[SEEN] = now
    request.session[ADDRESS] = request.META.get("REMOTE_ADDR") or ""
    request.session[AGENT] = request.headers.get("User-Agent", "")[:200]
