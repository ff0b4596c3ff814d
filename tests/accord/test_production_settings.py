"""Production settings are checked in fresh processes: settings are read once, at start-up."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "EMAIL_URL", "DJANGO_SECRET_KEY", "DJANGO_DEBUG")


def run_django(args, tmp_path, **overrides):
    env = {key: value for key, value in os.environ.items() if key not in SERVICE_VARIABLES}
    env.update(ACCORD_VAR_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="accord.settings", **overrides)
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def production_env():
    return {
        "ACCORD_ENV": "production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "accord.example.org",
        "ACCORD_PUBLIC_URL": "https://accord.example.org",
        "DATABASE_URL": "postgres://accord@db.invalid:5432/accord",
        "REDIS_URL": "redis://redis.invalid:6379/0",
        "ACCORD_AUDIT_SIGNING_KEY": secrets.token_urlsafe(32),
        "ACCORD_KEK": secrets.token_urlsafe(32),
    }


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = production_env()
    del env["DJANGO_SECRET_KEY"]
    result = run_django(["manage.py", "check"], tmp_path, **env)
    assert result.returncode != 0
    assert "ACCORD_ENV=production needs DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE)" in result.stderr
    assert not (tmp_path / "secrets").exists(), "production must never generate a secret of its own"


def test_production_refuses_to_start_without_allowed_hosts(tmp_path):
    env = production_env()
    del env["DJANGO_ALLOWED_HOSTS"]
    result = run_django(["manage.py", "check"], tmp_path, **env)
    assert result.returncode != 0
    assert "ACCORD_ENV=production needs DJANGO_ALLOWED_HOSTS" in result.stderr


def test_production_refuses_a_kek_of_the_wrong_length(tmp_path):
    result = run_django(["manage.py", "check"], tmp_path, **{**production_env(), "ACCORD_KEK": "c2hvcnQ"})
    assert result.returncode != 0
    assert "ACCORD_KEK must decode to 32 bytes; it decodes to 5" in result.stderr


def test_production_refuses_to_start_without_a_public_url_or_with_a_plain_http_one(tmp_path):
    env = production_env()
    del env["ACCORD_PUBLIC_URL"]
    missing = run_django(["manage.py", "check"], tmp_path, **env)
    assert missing.returncode != 0
    assert "ACCORD_ENV=production needs ACCORD_PUBLIC_URL" in missing.stderr
    plain = run_django(["manage.py", "check"], tmp_path, **{**env, "ACCORD_PUBLIC_URL": "http://accord.example.org"})
    assert plain.returncode != 0
    assert "needs an https ACCORD_PUBLIC_URL" in plain.stderr


def test_a_public_url_that_names_an_ip_address_is_refused_passkeys_need_a_host_name(tmp_path):
    result = run_django(["manage.py", "check"], tmp_path, ACCORD_PUBLIC_URL="http://127.0.0.1:8000")
    assert result.returncode != 0
    assert "names an IP address (127.0.0.1); passkeys need a host name" in result.stderr


def test_the_public_url_is_the_passkeys_relying_party(tmp_path):
    script = (
        "from django.conf import settings; print(settings.OTP_WEBAUTHN_RP_ID, settings.OTP_WEBAUTHN_ALLOWED_ORIGINS)"
    )
    result = run_django(["-c", f"import django; django.setup(); {script}"], tmp_path)
    assert result.stdout.strip() == "localhost ['http://localhost:8000']", result.stderr


def test_production_refuses_debug(tmp_path):
    result = run_django(["manage.py", "check"], tmp_path, **{**production_env(), "DJANGO_DEBUG": "true"})
    assert result.returncode != 0
    assert "DJANGO_DEBUG must be false when ACCORD_ENV=production" in result.stderr


def test_check_deploy_is_clean_under_production_settings(tmp_path):
    result = run_django(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], tmp_path, **production_env())
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_development_generates_its_secrets_once_under_var(tmp_path):
    script = "from django.conf import settings; print(settings.SECRET_KEY, settings.ACCORD_KEK)"
    first = run_django(["-c", f"import django; django.setup(); {script}"], tmp_path)
    second = run_django(["-c", f"import django; django.setup(); {script}"], tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert (tmp_path / "secrets" / "django-secret-key").exists()
