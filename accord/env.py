"""Typed readers for settings that come from the environment.

Each reader fails loudly, naming the variable and what it expected, so a typo in a deployment stops the
process at start-up instead of quietly running with a default. Secrets may come from a file named by the
``<NAME>_FILE`` variable (Docker and Kubernetes secrets), never from both places at once.

Every reader takes ``environ`` (``os.environ`` by default) so tests can pass their own mapping.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import overload

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _raw(name: str, environ: Mapping[str, str] | None) -> str | None:
    value = (os.environ if environ is None else environ).get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


@overload
def env_str(
    name: str, default: str, *, choices: tuple[str, ...] = (), environ: Mapping[str, str] | None = None
) -> str: ...
@overload
def env_str(
    name: str, default: None = None, *, choices: tuple[str, ...] = (), environ: Mapping[str, str] | None = None
) -> str | None: ...
def env_str(
    name: str, default: str | None = None, *, choices: tuple[str, ...] = (), environ: Mapping[str, str] | None = None
) -> str | None:
    value = _raw(name, environ)
    if value is None:
        return default
    if choices and value not in choices:
        raise ImproperlyConfigured(f"{name} must be one of {', '.join(choices)}; got {value!r}.")
    return value


def env_bool(name: str, default: bool, *, environ: Mapping[str, str] | None = None) -> bool:
    value = _raw(name, environ)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false (also 1/0, yes/no, on/off); got {value!r}.")


def env_int(
    name: str,
    default: int,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    value = _raw(name, environ)
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number; got {value!r}.") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {number}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}; got {number}.")
    return number


def env_list(name: str, default: list[str], *, environ: Mapping[str, str] | None = None) -> list[str]:
    value = _raw(name, environ)
    if value is None:
        return list(default)
    items = [item.strip() for item in value.split(",")]
    if any(item == "" for item in items):
        raise ImproperlyConfigured(f"{name} is a comma-separated list with an empty item; got {value!r}.")
    return items


def env_secret(name: str, *, environ: Mapping[str, str] | None = None) -> str | None:
    """The value of ``name``, or the contents of the file named by ``name_FILE``; None when neither is set."""
    direct = _raw(name, environ)
    file_name = _raw(f"{name}_FILE", environ)
    if direct is not None and file_name is not None:
        raise ImproperlyConfigured(f"Set {name} or {name}_FILE, not both.")
    if file_name is None:
        return direct
    try:
        content = Path(file_name).read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ImproperlyConfigured(
            f"{name}_FILE names {file_name!r}, which cannot be read: {error.strerror}."
        ) from None
    if not content:
        raise ImproperlyConfigured(f"{name}_FILE names {file_name!r}, which is empty.")
    return content


def generated_secret(path: Path, *, nbytes: int = 32) -> str:
    """A development secret kept in ``path``: made once (url-safe base64), then read back on every start.

    Only for development; production settings require every secret to be given.
    """
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secrets.token_urlsafe(nbytes) + "\n")
    # web, worker and beat start together: link() refuses to replace, so the first writer's secret wins
    # and every process reads the same, complete file.
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text(encoding="utf-8").strip()
