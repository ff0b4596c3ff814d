import pytest
from django.utils import timezone

from governance.models import WorkerHeartbeat


def test_healthz_answers_200_when_everything_answers(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert {"database", "redis", "broker"} == set(body["checks"])
    assert all(check["ok"] for check in body["checks"].values())


def test_healthz_reports_an_unreachable_redis_as_503_with_the_reason(client, db, settings):
    settings.REDIS_URL = "redis://:hunter2@127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"]["ok"] is False
    assert "Redis at 127.0.0.1:1 did not answer" in body["reason"]
    assert "hunter2" not in response.content.decode()
    assert body["checks"]["database"]["ok"] is True


def test_missing_worker_heartbeats_are_a_warning_not_a_503(client, db):
    WorkerHeartbeat.objects.all().delete()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["workers"]["status"] == "warning"
    assert "Start a worker and beat" in response.json()["workers"]["detail"]


def test_a_recent_heartbeat_is_reported(client, db):
    WorkerHeartbeat.objects.create(hostname="worker@test", last_seen_at=timezone.now())
    workers = client.get("/healthz").json()["workers"]
    assert workers["status"] == "ok"
    assert workers["workers"][0]["hostname"] == "worker@test"


@pytest.mark.redis
def test_healthz_checks_the_real_redis_and_broker_when_configured(client, db):
    body = client.get("/healthz").json()
    assert body["checks"]["redis"]["mode"] == "redis" and body["checks"]["redis"]["ok"]
    assert body["checks"]["broker"]["mode"] == "redis" and body["checks"]["broker"]["ok"]
