"""Two installs on one Redis stay apart: each names its keys, its policy channel and its Celery queues after
itself (pub/sub ignores Redis's database number, so the channel needs the name most)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import redis
from django.conf import settings

from accord.celery import app as celery_app
from charters.services import policy_feed
from governance.decisions.limits import _windows
from governance.policy import live
from tests.helpers import take_queued

ROOT = Path(__file__).resolve().parents[2]


def install_name(tmp_path, **env):
    environment = {key: value for key, value in os.environ.items() if key != "ACCORD_INSTALL_NAME"}
    environment.update(ACCORD_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="accord.settings", **env)
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup(); from django.conf import settings; "
         "print(settings.ACCORD_INSTALL_NAME)"],
        cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return result


def test_each_database_names_its_own_install_unless_one_is_given(tmp_path):
    first = install_name(tmp_path, DATABASE_URL="postgres://accord@127.0.0.1:5432/accord")
    again = install_name(tmp_path, DATABASE_URL="postgres://accord@127.0.0.1:5432/accord")
    other = install_name(tmp_path, DATABASE_URL="postgres://accord@127.0.0.1:5432/accord_staging")
    named = install_name(tmp_path, DATABASE_URL="postgres://accord@127.0.0.1:5432/accord", ACCORD_INSTALL_NAME="eu-1")
    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout != other.stdout and named.stdout.strip() == "eu-1"


def test_a_bad_install_name_stops_the_start_saying_what_is_allowed(tmp_path):
    result = install_name(tmp_path, ACCORD_INSTALL_NAME="Prod Install!")
    assert result.returncode != 0
    assert "ACCORD_INSTALL_NAME must be 1 to 40 lower-case letters, digits and dashes; got 'Prod Install!'" in (
        result.stderr
    )


class _Grant:
    pk, rate_per_minute, daily_quota, monthly_quota = 7, 1, 1, 1


def test_every_redis_name_of_an_install_starts_with_its_prefix():
    from django.utils import timezone

    prefix = settings.ACCORD_REDIS_PREFIX
    names = [
        policy_feed.channel(),
        live.report_prefix(),
        *(key for key, _, _ in _windows(_Grant(), timezone.now())),
        settings.CACHES["default"].get("KEY_PREFIX", prefix) + ":",
    ]
    assert prefix.startswith("accord:") and settings.ACCORD_INSTALL_NAME in prefix
    assert all(name.startswith(prefix) for name in names), names
    if settings.REDIS_URL:
        assert celery_app.conf.broker_transport_options["global_keyprefix"] == prefix


@pytest.mark.redis
def test_a_policy_change_of_another_install_on_the_same_redis_wakes_nobody_here(settings):
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    subscription = client.pubsub(ignore_subscribe_messages=True)
    subscription.subscribe(policy_feed.channel())
    try:
        ours = settings.ACCORD_REDIS_PREFIX
        settings.ACCORD_REDIS_PREFIX = "accord:another-install:"
        policy_feed._announce(41)  # another install's change, on another database of the same Redis
        assert subscription.get_message(timeout=1.0) is None
        settings.ACCORD_REDIS_PREFIX = ours
        policy_feed._announce(42)
        message = subscription.get_message(timeout=5.0)
        assert message is not None and message["data"] == b"42"
    finally:
        subscription.close()
        client.close()


@pytest.mark.redis
def test_tasks_of_this_install_wait_in_its_own_queue():
    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)
    take_queued("governance.tasks.worker_heartbeat")  # whatever an earlier test left
    celery_app.send_task("governance.tasks.worker_heartbeat")
    try:
        assert client.llen(f"{settings.ACCORD_REDIS_PREFIX}celery") == 1
        assert client.llen("celery") == 0
    finally:
        take_queued("governance.tasks.worker_heartbeat")  # so no later test's worker runs it
        client.close()
