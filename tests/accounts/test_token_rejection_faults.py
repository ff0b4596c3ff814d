"""A rejected bearer token is a 401 whatever Redis does (the once-a-minute note in the trail is counted in the
cache, which may refuse or never answer): never a 500, never a hang."""

import time

import pytest
import time_machine
from django.utils import timezone

from audit.models import Event
from tests.faults import loopback_peer


@pytest.fixture(params=["refuse", "silent"])
def broken_cache(request, settings):
    with loopback_peer() as peer:
        getattr(peer, request.param)()
        settings.CACHES = {
            "default": {
                **settings.CACHES["default"],
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"redis://127.0.0.1:{peer.port}/0",
                "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
            }
        }
        yield request.param


@pytest.mark.parametrize("method, path", [("get", "/api/v1/grants"), ("post", "/api/v1/decisions")])
def test_an_unknown_token_is_401_while_the_cache_refuses_or_stays_silent(broken_cache, db, client, method, path):
    started = time.monotonic()
    response = getattr(client, method)(path, HTTP_AUTHORIZATION="Bearer acc_unknown")
    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == "authentication_failed"
    assert time.monotonic() - started < 10


def test_without_the_cache_a_token_tried_again_is_noted_once_a_minute_by_this_process(broken_cache, db, client):
    token = f"acc_retried_while_the_cache_is_{broken_cache}"  # this process remembers tokens across tests
    with time_machine.travel(timezone.now().replace(second=10), tick=False):  # all three within one minute
        for _ in range(3):
            assert client.get("/api/v1/grants", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 401
    assert Event.objects.filter(action="auth.token_rejected").count() == 1
