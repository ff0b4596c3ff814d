import pytest
from django.core.exceptions import ImproperlyConfigured

from accord.env import env_bool, env_int, env_list, env_secret, env_str, generated_secret


def test_bool_accepts_the_usual_spellings():
    assert env_bool("X", False, environ={"X": "Yes"}) is True
    assert env_bool("X", True, environ={"X": "off"}) is False
    assert env_bool("X", True, environ={}) is True


def test_bool_rejects_anything_else_naming_the_variable():
    with pytest.raises(ImproperlyConfigured, match=r"DJANGO_DEBUG must be true or false .* got 'maybe'"):
        env_bool("DJANGO_DEBUG", False, environ={"DJANGO_DEBUG": "maybe"})


def test_int_rejects_words_and_out_of_range_values():
    with pytest.raises(ImproperlyConfigured, match=r"ACCORD_SESSION_HOURS must be a whole number; got 'twelve'"):
        env_int("ACCORD_SESSION_HOURS", 12, environ={"ACCORD_SESSION_HOURS": "twelve"})
    with pytest.raises(ImproperlyConfigured, match="must be at least 1; got 0"):
        env_int("ACCORD_SESSION_HOURS", 12, minimum=1, environ={"ACCORD_SESSION_HOURS": "0"})
    assert env_int("N", 5, environ={"N": " 7 "}) == 7


def test_str_with_choices_rejects_unknown_values():
    with pytest.raises(ImproperlyConfigured, match="ACCORD_ENV must be one of development, production; got 'prod'"):
        env_str("ACCORD_ENV", "development", choices=("development", "production"), environ={"ACCORD_ENV": "prod"})


def test_list_splits_on_commas_and_rejects_empty_items():
    assert env_list("H", ["localhost"], environ={"H": "a.example, b.example"}) == ["a.example", "b.example"]
    with pytest.raises(ImproperlyConfigured, match="empty item"):
        env_list("DJANGO_ALLOWED_HOSTS", [], environ={"DJANGO_ALLOWED_HOSTS": "a.example,,b.example"})


def test_secret_reads_the_file_variant(tmp_path):
    secret_file = tmp_path / "key"
    secret_file.write_text("s3cr3t\n")
    assert env_secret("DJANGO_SECRET_KEY", environ={"DJANGO_SECRET_KEY_FILE": str(secret_file)}) == "s3cr3t"


def test_secret_refuses_both_the_value_and_the_file(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="Set DJANGO_SECRET_KEY or DJANGO_SECRET_KEY_FILE, not both"):
        env_secret("DJANGO_SECRET_KEY", environ={"DJANGO_SECRET_KEY": "a", "DJANGO_SECRET_KEY_FILE": "/x"})


def test_secret_file_that_cannot_be_read_is_named(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(ImproperlyConfigured, match=r"ACCORD_KEK_FILE names '.*nope', which cannot be read"):
        env_secret("ACCORD_KEK", environ={"ACCORD_KEK_FILE": str(missing)})


def test_empty_secret_file_is_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(ImproperlyConfigured, match="which is empty"):
        env_secret("ACCORD_KEK", environ={"ACCORD_KEK_FILE": str(empty)})


def test_generated_secret_is_made_once_and_private(tmp_path):
    path = tmp_path / "secrets" / "dev-key"
    first = generated_secret(path)
    assert generated_secret(path) == first
    assert len(first) >= 40
    assert path.stat().st_mode & 0o777 == 0o600
