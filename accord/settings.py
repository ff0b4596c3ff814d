"""Accord's settings, read from the environment (every variable is listed in .env.example).

Without DATABASE_URL and REDIS_URL the product runs on embedded defaults under var/: SQLite for data, a file
cache for what Redis does, and kombu's filesystem transport as the Celery broker. ACCORD_ENV=production turns on
the HTTPS-only settings and refuses to start without the secrets and hosts a deployment must give.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
import dj_email_url
import django_stubs_ext
from django.core.exceptions import ImproperlyConfigured

from accord.env import env_bool, env_int, env_list, env_secret, env_str, generated_secret

# Lets generic classes such as ModelAdmin[Event] be subscripted at run time, as the type checker reads them.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ACCORD_VAR_DIR") or BASE_DIR / "var")

ACCORD_ENV = env_str("ACCORD_ENV", "development", choices=("development", "production"))
PRODUCTION = ACCORD_ENV == "production"
DEBUG = env_bool("DJANGO_DEBUG", False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DJANGO_DEBUG must be false when ACCORD_ENV=production.")


def _required_in_production(name: str, how: str) -> str | None:
    value = env_secret(name)
    if value is None and PRODUCTION:
        raise ImproperlyConfigured(f"ACCORD_ENV=production needs {name} (or {name}_FILE): {how}")
    return value


def _key32(name: str, dev_file: str) -> str:
    """A 32-byte key in url-safe base64: given in production, generated once under var/ in development."""
    value = _required_in_production(
        name, "32 random bytes in url-safe base64, e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'."
    )
    if value is None:
        value = generated_secret(VAR_DIR / "secrets" / dev_file, nbytes=32)
    try:
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(f"{name} must be url-safe base64; it does not decode.") from None
    if len(raw) != 32:
        raise ImproperlyConfigured(f"{name} must decode to 32 bytes; it decodes to {len(raw)}.")
    return value


SECRET_KEY = _required_in_production(
    "DJANGO_SECRET_KEY",
    "50 or more random characters, e.g. python -c 'import secrets; print(secrets.token_urlsafe(50))'.",
) or generated_secret(VAR_DIR / "secrets" / "django-secret-key", nbytes=50)
if PRODUCTION and len(SECRET_KEY) < 50:
    raise ImproperlyConfigured(f"DJANGO_SECRET_KEY must be at least 50 characters; it has {len(SECRET_KEY)}.")

# Ed25519 private key seed that signs the audit trail's checkpoints and export manifests.
ACCORD_AUDIT_SIGNING_KEY = _key32("ACCORD_AUDIT_SIGNING_KEY", "audit-signing-key")
# Every signed checkpoint is also appended here, outside the database, so that removing checkpoints and events
# from the database (a TRUNCATE, a restore) shows. Put it on a volume the database's users cannot write.
ACCORD_AUDIT_ANCHOR_FILE = Path(env_str("ACCORD_AUDIT_ANCHOR_FILE") or VAR_DIR / "audit" / "checkpoints.jsonl")
# When nothing was sealed, a checkpoint is still written once this many seconds have passed since the last one.
ACCORD_AUDIT_QUIET_CHECKPOINT_SECONDS = env_int("ACCORD_AUDIT_QUIET_CHECKPOINT_SECONDS", 60, minimum=1, maximum=3600)
# Key-encryption key that wraps the data keys of stored artefacts (AES-256).
ACCORD_KEK = _key32("ACCORD_KEK", "kek")
# A scheduled destruction (a crypto-shredding) can be cancelled for this long before the key is erased.
ACCORD_DESTRUCTION_GRACE_HOURS = env_int("ACCORD_DESTRUCTION_GRACE_HOURS", 168, minimum=1, maximum=24 * 90)
# An incident's evidence step preserves the partner's trail events from this many days before the declaration.
ACCORD_INCIDENT_EVIDENCE_DAYS = env_int("ACCORD_INCIDENT_EVIDENCE_DAYS", 30, minimum=1, maximum=3650)

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["localhost", "127.0.0.1"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ACCORD_ENV=production needs DJANGO_ALLOWED_HOSTS, e.g. accord.example.org.")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp_webauthn",
    "axes",
    "csp",
    "django_htmx",
    # Ours, lowest layer first: governance -> charters -> accounts -> audit.
    "audit",
    "accounts",
    "charters",
    "governance",
]

MIDDLEWARE = [
    "accord.middleware.UnreadableAddressMiddleware",
    "accord.middleware.DatabaseDeadlineMiddleware",
    "audit.middleware.RequestContextMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After the messages: a session that ended says so on the login page.
    "accounts.middleware.SessionLifetimeMiddleware",
    "accounts.middleware.SecondFactorMiddleware",
    # After the second factor: a page refused to this caller by the authorization matrix never runs its view.
    "accounts.middleware.AccessMatrixMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "accord.middleware.PageRefusalMiddleware",
    "accord.middleware.DependencyFailureMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "accord.urls"
WSGI_APPLICATION = "accord.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.organisation",
                "governance.navigation.navigation",
            ],
        },
    },
]

# --- Data -------------------------------------------------------------------------------------------------
# How long Accord waits on PostgreSQL before it answers "unavailable" (accord/postgres/guard.py): to connect; for
# one answer within a web request, a decision, a task; and, after a connection failed, before it tries again.
ACCORD_DB_CONNECT_TIMEOUT = env_int("ACCORD_DB_CONNECT_TIMEOUT", 3, minimum=2, maximum=60)
ACCORD_DB_REQUEST_TIMEOUT = env_int("ACCORD_DB_REQUEST_TIMEOUT", 10, minimum=1, maximum=600)
ACCORD_DB_DECISION_TIMEOUT = env_int("ACCORD_DB_DECISION_TIMEOUT", 2, minimum=1, maximum=60)
ACCORD_DB_TASK_TIMEOUT = env_int("ACCORD_DB_TASK_TIMEOUT", 300, minimum=1, maximum=86400)
ACCORD_DB_RETRY_SECONDS = env_int("ACCORD_DB_RETRY_SECONDS", 5, minimum=1, maximum=300)
DATABASE_URL = env_secret("DATABASE_URL")
if DATABASE_URL:
    try:
        _database = dj_database_url.parse(
            DATABASE_URL, conn_max_age=env_int("ACCORD_DB_CONN_MAX_AGE", 60, minimum=0), conn_health_checks=True
        )
    except ValueError as error:
        raise ImproperlyConfigured(f"DATABASE_URL is not a database URL this project understands: {error}") from None
    DATABASES: dict[str, Any] = {"default": dict(_database)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Django's backend with bounded waits and a circuit breaker (accord/postgres/guard.py).
        DATABASES["default"]["ENGINE"] = "accord.postgres"
        DATABASES["default"]["OPTIONS"] = {
            # libpq's own bound on making a connection (the guard enforces the same one in web and workers).
            "connect_timeout": ACCORD_DB_CONNECT_TIMEOUT,
            # A server that vanished from the network (no acknowledgements at all) is noticed in seconds, on an
            # idle connection by keepalives and on a busy one by the unacknowledged-data timeout.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": 15_000,
            "application_name": "accord",
            **DATABASES["default"].get("OPTIONS", {}),
        }
elif PRODUCTION:
    raise ImproperlyConfigured("ACCORD_ENV=production needs DATABASE_URL, e.g. postgres://accord@db:5432/accord.")
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "accord.sqlite3",
            "OPTIONS": {
                # web, worker and beat share this file: WAL lets readers run beside the one writer, and
                # IMMEDIATE takes the write lock up front so that transactions queue instead of failing.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _install_name() -> str:
    """The install's name in every Redis key, channel and queue it uses. Redis's pub/sub ignores the database
    number, and two installs may share one database: by default each database (where the data is) names its own
    install, so two installs on one Redis never wake each other or run each other's tasks."""
    name = env_str("ACCORD_INSTALL_NAME")
    if name is None:
        where = DATABASES["default"]
        identity = f"{where['ENGINE']}|{where.get('HOST', '')}|{where.get('PORT', '')}|{where['NAME']}"
        return hashlib.sha256(identity.encode()).hexdigest()[:10]
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{0,39}", name):
        raise ImproperlyConfigured(
            f"ACCORD_INSTALL_NAME must be 1 to 40 lower-case letters, digits and dashes; got {name!r}."
        )
    return name


ACCORD_INSTALL_NAME = _install_name()
# Every Redis key, pub/sub channel and Celery queue of this install starts with this.
ACCORD_REDIS_PREFIX = f"accord:{ACCORD_INSTALL_NAME}:"

# --- Redis, or its embedded fallbacks ---------------------------------------------------------------------
REDIS_URL = env_secret("REDIS_URL")
if PRODUCTION and not REDIS_URL:
    raise ImproperlyConfigured("ACCORD_ENV=production needs REDIS_URL, e.g. redis://redis:6379/0.")
# The longest a web request or a task waits on Redis for one answer (a decision's counters wait less, 0.5 s).
ACCORD_REDIS_TIMEOUT = env_int("ACCORD_REDIS_TIMEOUT", 2, minimum=1, maximum=60)
if REDIS_URL:
    CACHES: dict[str, dict[str, Any]] = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": ACCORD_REDIS_PREFIX.rstrip(":"),
            # Django's Redis cache has no timeouts of its own: a silent Redis would hold the request for ever.
            "OPTIONS": {"socket_connect_timeout": ACCORD_REDIS_TIMEOUT, "socket_timeout": ACCORD_REDIS_TIMEOUT},
        }
    }
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": VAR_DIR / "cache"}
    }

# --- Celery: worker and beat run in both modes ------------------------------------------------------------
CELERY_BROKER_URL = env_secret("CELERY_BROKER_URL") or REDIS_URL or "filesystem://localhost/"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = VAR_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    # Publishers (web, beat) and the worker must find the folders before the first message.
    for _folder in ("queue", "control"):
        (_broker_dir / _folder).mkdir(parents=True, exist_ok=True)
else:
    # With acks_late, Redis redelivers a task that is not acknowledged within this many seconds. Workers look for
    # such tasks every interval x throttle seconds (kombu's defaults, 10 x 10, suit the hour); a short timeout
    # (a test's) needs them to look as often as it expires.
    _visibility = env_int("ACCORD_CELERY_VISIBILITY_TIMEOUT", 3600, minimum=1)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": _visibility,
        "unacked_restore_interval": max(1, min(10, _visibility // 2)),
        "unacked_restore_throttle": 1 if _visibility < 100 else 10,
        # kombu's Redis transport has no timeouts of its own: a silent broker would hold a publisher (a request
        # queueing an export, /healthz) for ever. Reads wait longer than the worker's 1-second BRPOP.
        "socket_connect_timeout": ACCORD_REDIS_TIMEOUT,
        "socket_timeout": max(5, ACCORD_REDIS_TIMEOUT),
        # The queues, the unacknowledged set and the fanout channels of this install, apart from any other's.
        "global_keyprefix": ACCORD_REDIS_PREFIX,
    }
CELERY_BROKER_CONNECTION_TIMEOUT = ACCORD_REDIS_TIMEOUT
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_ALWAYS_EAGER = False

# --- Mail -------------------------------------------------------------------------------------------------
EMAIL_URL = env_secret("EMAIL_URL")
if EMAIL_URL:
    try:
        _email = dj_email_url.parse(EMAIL_URL)
    except (KeyError, ValueError) as error:
        raise ImproperlyConfigured(f"EMAIL_URL is not a mail URL this project understands: {error}") from None
    EMAIL_BACKEND = _email["EMAIL_BACKEND"]
    EMAIL_HOST = _email["EMAIL_HOST"]
    EMAIL_PORT = _email["EMAIL_PORT"]
    EMAIL_HOST_USER = _email["EMAIL_HOST_USER"]
    EMAIL_HOST_PASSWORD = _email["EMAIL_HOST_PASSWORD"]
    EMAIL_USE_TLS = _email["EMAIL_USE_TLS"]
    EMAIL_USE_SSL = _email["EMAIL_USE_SSL"]
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = VAR_DIR / "mail"
# A mail server that stops answering must not hold a worker: the outbox tries again on its next run.
EMAIL_TIMEOUT = env_int("ACCORD_EMAIL_TIMEOUT", 20, minimum=1, maximum=300)
DEFAULT_FROM_EMAIL = env_str("ACCORD_FROM_EMAIL", "accord@localhost")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- People -----------------------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
ACCORD_HOST_ORGANISATION = env_str("ACCORD_HOST_ORGANISATION", "Meridian AI")
# A web login ends this long after it began (absolute) or after this long without a request (idle), whichever
# comes first (accounts/middleware.py).
SESSION_COOKIE_AGE = env_int("ACCORD_SESSION_HOURS", 12, minimum=1, maximum=24 * 14) * 3600
ACCORD_SESSION_IDLE_MINUTES = env_int("ACCORD_SESSION_IDLE_MINUTES", 30, minimum=1, maximum=24 * 60)
# Sessions are Django's database sessions with their person, address and times beside them, so that people can
# see and end their own and a deactivation ends them all (accounts/sessions.py).
SESSION_ENGINE = "accounts.sessions"
# Irreversible acts (ending a charter, a rollback, destroying a key, resetting factors) ask for the second
# factor again unless it was given this many minutes ago.
ACCORD_STEP_UP_MINUTES = env_int("ACCORD_STEP_UP_MINUTES", 5, minimum=1, maximum=60)
# The same acts take two officers: one proposes, another confirms within this many hours or it lapses
# (accounts/proposals.py).
ACCORD_PROPOSAL_HOURS = env_int("ACCORD_PROPOSAL_HOURS", 48, minimum=1, maximum=24 * 30)

# Where people reach Accord: the WebAuthn relying party (its host name; browsers refuse an IP address) and the
# links in mail. A deployment's is https.
ACCORD_PUBLIC_URL = (env_str("ACCORD_PUBLIC_URL") or ("" if PRODUCTION else "http://localhost:8000")).rstrip("/")
if PRODUCTION and not ACCORD_PUBLIC_URL:
    raise ImproperlyConfigured("ACCORD_ENV=production needs ACCORD_PUBLIC_URL, e.g. https://accord.example.org.")
_public = re.fullmatch(r"(https?)://([a-z0-9.-]+)(:\d+)?", ACCORD_PUBLIC_URL, flags=re.IGNORECASE)
if _public is None:
    raise ImproperlyConfigured(
        f"ACCORD_PUBLIC_URL must be the address people open, e.g. https://accord.example.org; got {ACCORD_PUBLIC_URL!r}"
    )
if re.fullmatch(r"[\d.]+", _public[2]):
    raise ImproperlyConfigured(
        f"ACCORD_PUBLIC_URL names an IP address ({_public[2]}); passkeys need a host name, e.g. http://localhost:8000"
    )
if PRODUCTION and _public[1].lower() != "https":
    raise ImproperlyConfigured("ACCORD_ENV=production needs an https ACCORD_PUBLIC_URL: passkeys and cookies need it.")

# Second factors: passkeys (django-otp-webauthn) and TOTP (django-otp), plus one-time recovery codes
# (accounts.models.RecoveryCodeDevice). A passkey is a second factor here, never a login on its own.
OTP_WEBAUTHN_RP_ID = _public[2].lower()
OTP_WEBAUTHN_RP_NAME = f"Accord ({ACCORD_HOST_ORGANISATION})"
OTP_WEBAUTHN_ALLOWED_ORIGINS = [ACCORD_PUBLIC_URL]
OTP_WEBAUTHN_ALLOW_PASSWORDLESS_LOGIN = False
OTP_TOTP_ISSUER = OTP_WEBAUTHN_RP_NAME
# The admin never shows a person's authenticator secret or its QR code (django-otp shows both by default).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
# A wrong code makes the next try wait 2^(n-1) seconds after n wrong ones in a row (django-otp's throttle).
OTP_TOTP_THROTTLE_FACTOR = 1

# Lockout (django-axes): this many failed logins within the lockout time, counted for the account and for the
# address apart, lock that account or address for the lockout time; an officer can unlock sooner.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("ACCORD_LOGIN_FAILURE_LIMIT", 5, minimum=2, maximum=100)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("ACCORD_LOGIN_LOCKOUT_MINUTES", 15, minimum=1, maximum=24 * 60))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_CALLABLE = "accounts.views.locked_out"
AXES_RESET_ON_SUCCESS = False
# Accord records logins in its own trail; axes keeps only its counters.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False
# Bearer tokens that match no live one, per client address and minute, beyond which none is recorded or counted
# (one event says the cap was reached): a flood of distinct junk tokens fills neither the trail nor the cache.
ACCORD_TOKEN_REJECTIONS_PER_ADDRESS = env_int("ACCORD_TOKEN_REJECTIONS_PER_ADDRESS", 30, minimum=1, maximum=10_000)
# The largest JSON body the API reads (a full batch of 1,000 decision requests fits well within it).
ACCORD_API_MAX_BODY_BYTES = env_int("ACCORD_API_MAX_BODY_BYTES", 2 * 1024 * 1024, minimum=1024)
# Seconds a web request's body may take to arrive (more for a large one that keeps coming) before it is answered
# 408: a slow or truncated body must not hold a server thread (accord/wsgi_limits.py).
ACCORD_WEB_BODY_TIMEOUT = env_int("ACCORD_WEB_BODY_TIMEOUT", 10, minimum=1, maximum=300)
# Django refuses larger bodies before any parser runs; keep the two limits the same.
DATA_UPLOAD_MAX_MEMORY_SIZE = ACCORD_API_MAX_BODY_BYTES
# How long a decision session (for grants that require one) stays live.
ACCORD_DECISION_SESSION_SECONDS = env_int("ACCORD_DECISION_SESSION_SECONDS", 900, minimum=10, maximum=86400)
# How long an attestation nonce may wait to be spent: single-use, and short so evidence is fresh.
ACCORD_ATTESTATION_NONCE_SECONDS = env_int("ACCORD_ATTESTATION_NONCE_SECONDS", 300, minimum=10, maximum=3600)
# The attestation verifiers (governance/attestation/verifiers.py): a YAML or JSON file; unset, none is configured.
_verifiers_file = env_str("ACCORD_ATTESTATION_VERIFIERS_FILE")
ACCORD_ATTESTATION_VERIFIERS_FILE = Path(_verifiers_file) if _verifiers_file else None
# How far an attestation token's exp, nbf and iat may be off the clock of this install.
ACCORD_ATTESTATION_CLOCK_SKEW_SECONDS = env_int("ACCORD_ATTESTATION_CLOCK_SKEW_SECONDS", 60, minimum=0, maximum=300)
# The longest window of recorded decisions a what-if replays (governance/whatif/services.py).
ACCORD_WHATIF_MAX_DAYS = env_int("ACCORD_WHATIF_MAX_DAYS", 90, minimum=1, maximum=3660)
# API tokens live this many days unless their creator asks for less.
ACCORD_TOKEN_MAX_DAYS = env_int("ACCORD_TOKEN_MAX_DAYS", 90, minimum=1, maximum=730)

# --- Web and API ------------------------------------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": VAR_DIR / "media"}},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    # Encrypted artefacts (asset files, deliveries): only ciphertext is ever written here. Any Django storage
    # backend will do; its class and options come from the environment in a deployment.
    "artefacts": {
        "BACKEND": env_str("ACCORD_ARTEFACT_STORAGE") or "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": Path(env_str("ACCORD_ARTEFACT_DIR") or VAR_DIR / "artefacts")}
        if not env_str("ACCORD_ARTEFACT_STORAGE")
        else {},
    },
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        # The authorization matrix (accounts/matrix.py): who may call each address, and with which token scopes.
        "accounts.permissions.MatrixPermission",
    ],
    "DEFAULT_SCHEMA_CLASS": "accord.schema.AccordAutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "accord.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    "EXCEPTION_HANDLER": "accord.api_errors.exception_handler",
    # The API reads JSON only: forms and uploads are the web pages' (a form's empty field and JSON's absent one
    # differ, and one body format is one thing to validate and document).
    "DEFAULT_PARSER_CLASSES": ["accord.parsers.LimitedJSONParser"],
    # APIClient in tests sends what the API reads.
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Accord API",
    "DESCRIPTION": "Governed access to shared AI models: charters, grants, decisions and the audit trail.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # Choice sets whose field names other components use too ("kind", "status"): each its own named enum.
    "ENUM_NAME_OVERRIDES": {
        "ProposalKindEnum": "accounts.models.Proposal.Kind",
        "ProposalStatusEnum": "accounts.models.Proposal.Status",
        "LockKindEnum": "accounts.apis.LOCK_KINDS",
        "AssetKindEnum": "charters.models.Asset.Kind",
        # Reviews and incidents are open or closed alike: one enum for both.
        "OpenClosedEnum": "governance.models.reviews.ReviewCampaign.Status",
    },
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "accord.schema.empty_query_values"],
    # The interactive page is served from vendored files: nothing is fetched from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Security ---------------------------------------------------------------------------------------------
X_FRAME_OPTIONS = "DENY"
# Nothing inline, nothing from elsewhere: every script and style is a file under /static/ (the admin's, Swagger's
# and the passkey scripts included). Images may be data: URLs, which cannot run anything (Swagger's icons are).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "manifest-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}
# Browser features no page of Accord uses are off; passkeys only for Accord's own pages.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    **{
        feature: []
        for feature in (
            "accelerometer",
            "autoplay",
            "camera",
            "display-capture",
            "geolocation",
            "gyroscope",
            "magnetometer",
            "microphone",
            "midi",
            "payment",
            "screen-wake-lock",
            "serial",
            "usb",
            "xr-spatial-tracking",
        )
    },
    "fullscreen": ["self"],
    "publickey-credentials-create": ["self"],
    "publickey-credentials-get": ["self"],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    # Load balancers and container health checks probe over plain HTTP.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    if env_bool("DJANGO_TRUST_X_FORWARDED_PROTO", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LOG_LEVEL = env_str("ACCORD_LOG_LEVEL", "INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # The level on the handler too: records of loggers with their own level (django.request's warnings, say) reach
    # it without passing the root logger's.
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "level": LOG_LEVEL}},
    # Casbin logs the whole policy at INFO each time an enforcer loads it: noise, and the policy in the logs.
    "loggers": {"casbin": {"level": "WARNING"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
}
