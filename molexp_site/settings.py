"""MolExp settings: one module, driven by the environment.

Nothing set gives the embedded default (SPEC §2): SQLite in ``var/db.sqlite3``
(WAL, busy timeout, IMMEDIATE transactions), files in ``var/media/``, Celery's
``filesystem://`` transport in ``var/broker/`` and a secret key generated once
and kept in ``var/``. Production sets ``DATABASE_URL``, ``CELERY_BROKER_URL``,
``SECRET_KEY``, ``ALLOWED_HOSTS``, ``CSRF_TRUSTED_ORIGINS`` and a storage
backend. Every variable is listed in ``.env.example``. Helpers fail loudly on
bad values instead of guessing.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str | None = None) -> str | None:
    """Return a string variable; ``NAME_FILE`` (a path) is read when set, for secrets."""
    file_path = os.environ.get(f"{name}_FILE")
    if file_path:
        try:
            return Path(file_path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={file_path!r} cannot be read: {exc}") from exc
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={value!r} is not an integer") from exc


def env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={value!r} is not a number") from exc
    if number != number or number in (float("inf"), float("-inf")):
        raise ImproperlyConfigured(f"{name}={value!r} must be finite")
    return number


def env_list(name: str, default: list[str] | None = None, sep: str = ",") -> list[str]:
    value = os.environ.get(name)
    if value is None or value == "":
        return list(default or [])
    return [item.strip() for item in value.split(sep) if item.strip()]


VAR_DIR = Path(env_str("MOLEXP_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    # Embedded default: generate once, keep it beside the database so sessions
    # and tokens survive restarts of `make run`.
    key_file = VAR_DIR / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    key = secrets.token_urlsafe(50)
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "django_htmx",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "runs_app",
    "assets_app",
]

MIDDLEWARE = [
    # Request latency for /metrics (molexp_site/metrics.py): first, so it times the whole chain.
    "molexp_site.metrics.RequestLatencyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # A nonce-based Content-Security-Policy on every HTML page (molexp_site/csp.py).
    "molexp_site.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The client address the audit log records (molexp_site/audit_context.py).
    "molexp_site.audit_context.AuditContextMiddleware",
    # Refused sign-ins (molexp_site/throttle.py) answer 429 on every login path.
    "molexp_site.throttle.SigninThrottleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # A page 404 under a slug renamed since (SPEC §14) becomes a 301 to the new URL (runs_app/slug_redirects.py).
    "runs_app.slug_redirects.SlugRedirectMiddleware",
]

ROOT_URLCONF = "molexp_site.urls"
WSGI_APPLICATION = "molexp_site.wsgi.application"
ASGI_APPLICATION = "molexp_site.asgi.application"

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
                "molexp_site.csp.csp_nonce",
            ],
            # One unit for sizes (binary, KiB/MiB/GiB): ``|filesize`` in every template.
            "builtins": ["molexp_site.templatetags"],
        },
    },
]

# --- Database -----------------------------------------------------------------
# The web process and the worker both write: WAL lets readers go on during a
# write, IMMEDIATE takes the write lock at BEGIN so two writers queue on the busy
# timeout instead of failing on a lock upgrade. Applied to the embedded default
# and to any sqlite:// DATABASE_URL, so a worker pointed at a SQLite file by URL
# behaves like the embedded default.
SQLITE_OPTIONS = {
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}
# Per process, so two test runs on one machine never share (and corrupt) one file.
SQLITE_TEST = {"NAME": str(VAR_DIR / f"test_db_{os.getpid()}.sqlite3")}
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    try:
        DATABASES = {
            "default": dj_database_url.parse(
                DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60), conn_health_checks=True
            )
        }
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL cannot be parsed: {exc}") from exc
    if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
        DATABASES["default"]["OPTIONS"] = {**SQLITE_OPTIONS, **DATABASES["default"].get("OPTIONS", {})}
        # Tests on a SQLite URL use a file (not :memory:) so a real worker process can share it.
        DATABASES["default"]["TEST"] = dict(SQLITE_TEST)
    elif DATABASES["default"]["ENGINE"].endswith("postgresql"):
        # Per process too: two suites on one server must not create, flush and drop one test database.
        DATABASES["default"]["TEST"] = {"NAME": f"test_{DATABASES['default']['NAME']}_{os.getpid()}"}
        # Every query MolExp serves is bounded (a page, a capped count, a windowed search): parallel
        # workers only add start-up cost to them (measured at 1 M assets: kind:error_trace searches
        # 34 → 22 ms p50). 0 = no parallel query for MolExp's connections; raise it for ad-hoc SQL.
        _parallel = env_int("MOLEXP_PG_MAX_PARALLEL_WORKERS_PER_GATHER", 0)
        # JIT compilation likewise: it starts above a plan *cost* (jit_above_cost, 100 000), and a
        # bounded query with a poor row estimate crosses it. The runs table's latest-metrics read of
        # 25 runs (0.4 ms of work) was estimated at 6.2 M and spent 179 ms compiling (docs/performance.md,
        # "JIT"). Off for MolExp's connections; MOLEXP_PG_JIT=on restores the server's setting.
        _jit = "" if env_str("MOLEXP_PG_JIT", "off") == "on" else " -c jit=off"
        # The session time zone Django wants (USE_TZ: UTC), set at connect: a server whose own setting is
        # spelled otherwise (Debian: "Etc/UTC") made Django send SET TIME ZONE on every new connection, one
        # round trip more (each launch through the launch bench opens one).
        _tz = " -c TimeZone=UTC" if DATABASES["default"].get("TIME_ZONE") is None else ""
        _pg_options = DATABASES["default"].setdefault("OPTIONS", {})
        _pg_options["options"] = (
            f"{_pg_options.get('options', '')} -c max_parallel_workers_per_gather={_parallel}{_jit}{_tz}".strip()
        )
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            "OPTIONS": dict(SQLITE_OPTIONS),
            "TEST": dict(SQLITE_TEST),
        }
    }
IS_POSTGRES = DATABASES["default"]["ENGINE"].endswith("postgresql")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Every password check goes through the sign-in throttle (per username+client and per client).
AUTHENTICATION_BACKENDS = ["molexp_site.throttle.ThrottledModelBackend"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "runs:dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static and media files -------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "/media-not-served/"  # user files are only served through permission-checked views

# Any Django storage backend can hold the asset files; workers on several machines
# then share one record (e.g. "storages.backends.s3.S3Storage" with django-storages).
MOLEXP_STORAGE_BACKEND = env_str("MOLEXP_STORAGE_BACKEND", "django.core.files.storage.FileSystemStorage")
if MOLEXP_STORAGE_BACKEND == "django.core.files.storage.FileSystemStorage":
    _storage_options: dict = {"location": str(MEDIA_ROOT)}
elif MOLEXP_STORAGE_BACKEND.startswith("storages.backends.s3"):
    # S3-compatible object store (AWS S3, MinIO, Ceph RGW, moto). Keys come from
    # AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in the environment (read by django-storages).
    _storage_options = {
        "bucket_name": env_str("AWS_STORAGE_BUCKET_NAME"),
        "endpoint_url": env_str("AWS_S3_ENDPOINT_URL") or None,
        "region_name": env_str("AWS_S3_REGION_NAME") or None,
        "location": env_str("AWS_LOCATION", ""),
        "addressing_style": env_str("AWS_S3_ADDRESSING_STYLE") or None,
        # Names are content hashes and row ids chosen by the services: store them as given.
        "file_overwrite": True,
        "default_acl": None,
        "querystring_auth": True,
        "gzip": False,
        # django-storages' own file object spills to disk past this size (MolExp streams reads itself).
        "max_memory_size": 16 * 1024 * 1024,
    }
    if not _storage_options["bucket_name"]:
        raise ImproperlyConfigured("MOLEXP_STORAGE_BACKEND is S3: set AWS_STORAGE_BUCKET_NAME")
else:
    _storage_options = {}
# Partial tus uploads grow here (a local or shared folder, whatever the storage backend);
# empty = MEDIA_ROOT/uploads.
MOLEXP_UPLOAD_DIR = env_str("MOLEXP_UPLOAD_DIR", "")
STORAGES = {
    "default": {"BACKEND": MOLEXP_STORAGE_BACKEND, "OPTIONS": _storage_options},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if env_bool("MOLEXP_MANIFEST_STATIC", not DEBUG)
        else "django.contrib.staticfiles.storage.StaticFilesStorage",
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Security -----------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
# Sessions are read from the cache (CACHES: Redis with MOLEXP_CACHE_URL, else files under var/) and
# written through to the database: a signed-in request no longer costs a session SELECT (issue 17,
# the API's per-request overhead). The user row is still read every request (active, password hash).
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", False)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
# Load balancers and Prometheus probe the web process directly, over plain HTTP (docs/operations.md).
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if env_bool("MOLEXP_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- REST API -----------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: its WWW-Authenticate header makes an anonymous request a 401, not a 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # DRF's token, or a scoped token (mx_…: one workspace, a maximum role, an expiry; SPEC §13).
        "runs_app.api.auth.ScopedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON bodies nested past MOLEXP_JSON_MAX_DEPTH are a 400 (molexp_site/json_input.py).
    "DEFAULT_PARSER_CLASSES": [
        "molexp_site.json_input.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "molexp_site.api.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["molexp_site.api.FilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "molexp_site.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    # POST /api/auth/token/ per client (ScopedRateThrottle); failed passwords are limited by MOLEXP_LOGIN_* below.
    "DEFAULT_THROTTLE_RATES": {"auth-token": env_str("MOLEXP_TOKEN_RATE", "60/min")},
}
# Deepest nesting of any JSON a request carries (API bodies, JSON typed into forms): deeper → 400.
MOLEXP_JSON_MAX_DEPTH = env_int("MOLEXP_JSON_MAX_DEPTH", 100)
# /api/schema/ and /api/docs/ need sign-in unless this is on (molexp_site/api_docs.py).
MOLEXP_API_DOCS_PUBLIC = env_bool("MOLEXP_API_DOCS_PUBLIC", False)
SPECTACULAR_SETTINGS = {
    "TITLE": "MolExp API",
    "DESCRIPTION": "Workspaces, experiments, runs and the asset catalog of MolExp.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Runs, executions and tasks each have a "status" with its own choices.
    "ENUM_NAME_OVERRIDES": {
        "RunStatusEnum": "runs_app.choices.RunStatus",
        "ExecutionStatusEnum": "runs_app.choices.ExecutionStatus",
        "TaskStatusEnum": "runs_app.choices.TaskStatus",
        "RoleEnum": "runs_app.choices.Role",
    },
}

# --- Celery -------------------------------------------------------------------------
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_SERIALIZER = "json"
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = False
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"runs.execution_run": {"queue": "runs"}}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
MOLEXP_TASK_TIME_LIMIT = env_int("MOLEXP_TASK_TIME_LIMIT", 6 * 3600)
CELERY_TASK_TIME_LIMIT = MOLEXP_TASK_TIME_LIMIT
CELERY_TASK_SOFT_TIME_LIMIT = MOLEXP_TASK_TIME_LIMIT - 60
if CELERY_BROKER_URL.startswith("filesystem://"):
    # Kombu's filesystem transport with atomic message files (see molexp_site/fs_transport.py).
    CELERY_BROKER_TRANSPORT = "molexp_site.fs_transport:Transport"
    for sub in ("out", "processed", "control"):
        (BROKER_DIR / sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # One folder serves as both ends of every queue on this machine.
        "data_folder_in": str(BROKER_DIR / "out"),
        "data_folder_out": str(BROKER_DIR / "out"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "store_processed": False,
        "control_folder": str(BROKER_DIR / "control"),
        "polling_interval": 0.1,
    }
else:
    # The visibility timeout must exceed the longest task, or Redis redelivers a
    # running task to a second worker; all three option sets must agree.
    _visibility = {"visibility_timeout": MOLEXP_TASK_TIME_LIMIT + 3600}
    CELERY_BROKER_TRANSPORT_OPTIONS = dict(_visibility)
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = dict(_visibility)
    CELERY_VISIBILITY_TIMEOUT = _visibility["visibility_timeout"]
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "maintenance": {
        "task": "runs.maintenance",
        "schedule": float(env_int("MOLEXP_MAINTENANCE_INTERVAL", 15)),
    },
}
# Uploads: expire abandoned tus partials and remove orphan *.part files (queue "default").
CELERY_BEAT_SCHEDULE["assets-maintenance"] = {
    "task": "assets.maintenance",
    "schedule": float(env_int("MOLEXP_UPLOAD_SWEEP_INTERVAL", 300)),
}
# Retention policies (SPEC §14, docs/lifecycle.md): apply the enabled ones (queue "default").
CELERY_BEAT_SCHEDULE["assets-retention"] = {
    "task": "assets.retention",
    "schedule": float(env_int("MOLEXP_RETENTION_INTERVAL", 3600)),
}

# --- MolExp -------------------------------------------------------------------------
MOLEXP_WORKFLOW_DIRS = env_list("MOLEXP_WORKFLOW_DIRS", [str(BASE_DIR / "examples" / "workflows")], sep=os.pathsep)
MOLEXP_IMPORT_ROOTS = env_list("MOLEXP_IMPORT_ROOTS", [], sep=os.pathsep)
MOLEXP_LOST_RETRIES = env_int("MOLEXP_LOST_RETRIES", 1)
MOLEXP_HEARTBEAT_SECONDS = env_int("MOLEXP_HEARTBEAT_SECONDS", 10)
MOLEXP_LOST_AFTER_SECONDS = env_int("MOLEXP_LOST_AFTER_SECONDS", 45)
# External runs (the molexp client, SPEC §13): silent this long → lost, then failed (never retried).
MOLEXP_EXTERNAL_LOST_AFTER_SECONDS = env_int("MOLEXP_EXTERNAL_LOST_AFTER_SECONDS", 300)
MOLEXP_CANCEL_GRACE_SECONDS = env_int("MOLEXP_CANCEL_GRACE_SECONDS", 20)
MOLEXP_REDISPATCH_AFTER_SECONDS = env_int("MOLEXP_REDISPATCH_AFTER_SECONDS", 30)
MOLEXP_WORK_DIR = Path(env_str("MOLEXP_WORK_DIR", str(VAR_DIR / "work")))
# A run's code snapshot (SPEC §12): the workflow root's source tree; a launch above this many bytes is refused.
MOLEXP_SNAPSHOT_MAX_BYTES = env_int("MOLEXP_SNAPSHOT_MAX_BYTES", 50 * 1000 * 1000)
# The machine name a worker records on the executions it claims (default: the host name).
MOLEXP_WORKER_HOSTNAME = env_str("MOLEXP_WORKER_HOSTNAME", "")
# tus uploads (SPEC §7): largest Upload-Length accepted, hours an unfinished upload lives after its last PATCH.
MOLEXP_UPLOAD_MAX_SIZE = env_int("MOLEXP_UPLOAD_MAX_SIZE", 50 * 1024**3)
MOLEXP_UPLOAD_EXPIRY_HOURS = env_int("MOLEXP_UPLOAD_EXPIRY_HOURS", 24)
# Blob garbage collection (docs/lifecycle.md): an object younger than this, or claimed by a
# writer within this long, is never freed. It must exceed the time between a writer's
# claim and the commit of the row that references the bytes.
MOLEXP_GC_GRACE_SECONDS = env_int("MOLEXP_GC_GRACE_SECONDS", 86400)
# Deleted things stay restorable in the trash this many days; then the maintenance purges them (SPEC §14).
MOLEXP_TRASH_DAYS = env_int("MOLEXP_TRASH_DAYS", 30)
MOLEXP_REPRODUCE_RTOL = env_float("MOLEXP_REPRODUCE_RTOL", 1e-9)
MOLEXP_CRATE_MAX_ENTRIES = env_int("MOLEXP_CRATE_MAX_ENTRIES", 20_000)
MOLEXP_CRATE_MAX_FILE_BYTES = env_int("MOLEXP_CRATE_MAX_FILE_BYTES", MOLEXP_UPLOAD_MAX_SIZE)
MOLEXP_CRATE_MAX_TOTAL_BYTES = env_int("MOLEXP_CRATE_MAX_TOTAL_BYTES", MOLEXP_UPLOAD_MAX_SIZE)
# Per entry and for the whole crate (uncompressed bytes / the zip's size); also the bound on
# stored bytes per request byte of an import (docs/security.md).
MOLEXP_CRATE_MAX_RATIO = env_int("MOLEXP_CRATE_MAX_RATIO", 100)
# JSON members (metadata, run record, events, metrics) are parsed whole: this bounds the import's peak memory.
MOLEXP_CRATE_MAX_JSON_BYTES = env_int("MOLEXP_CRATE_MAX_JSON_BYTES", 32 * 1024 * 1024)
MOLEXP_CRATE_MAX_SOURCE_BYTES = env_int("MOLEXP_CRATE_MAX_SOURCE_BYTES", 2 * 1024 * 1024)
MOLEXP_CRATE_MAX_EVENTS = env_int("MOLEXP_CRATE_MAX_EVENTS", 10_000)
MOLEXP_CRATE_MAX_METRICS = env_int("MOLEXP_CRATE_MAX_METRICS", 100_000)
MOLEXP_CRATE_MAX_ASSETS = env_int("MOLEXP_CRATE_MAX_ASSETS", 10_000)
# Launch bounds (runs_app/services/limits.py, docs/security.md "Request limits"): what one launch
# request may make the server store and compute, and how many runs may wait in the queue.
MOLEXP_LAUNCH_MAX_RUNS = env_int("MOLEXP_LAUNCH_MAX_RUNS", 10_000)
MOLEXP_LAUNCH_MAX_REQUEST_BYTES = env_int("MOLEXP_LAUNCH_MAX_REQUEST_BYTES", 1024**2)
MOLEXP_LAUNCH_MAX_VALUE_BYTES = env_int("MOLEXP_LAUNCH_MAX_VALUE_BYTES", 64 * 1024)
MOLEXP_LAUNCH_MAX_RUN_BYTES = env_int("MOLEXP_LAUNCH_MAX_RUN_BYTES", 256 * 1024)
MOLEXP_LAUNCH_MAX_TOTAL_BYTES = env_int("MOLEXP_LAUNCH_MAX_TOTAL_BYTES", 64 * 1024**2)
MOLEXP_LAUNCH_AMPLIFICATION = env_int("MOLEXP_LAUNCH_AMPLIFICATION", 8)
MOLEXP_LAUNCH_RUN_ALLOWANCE_BYTES = env_int("MOLEXP_LAUNCH_RUN_ALLOWANCE_BYTES", 1024)
MOLEXP_LAUNCH_PREVIEW_MAX_CELLS = env_int("MOLEXP_LAUNCH_PREVIEW_MAX_CELLS", 100)
MOLEXP_OVERRIDE_MAX_KEY_LENGTH = env_int("MOLEXP_OVERRIDE_MAX_KEY_LENGTH", 256)
MOLEXP_OVERRIDE_MAX_KEY_DEPTH = env_int("MOLEXP_OVERRIDE_MAX_KEY_DEPTH", 32)
MOLEXP_MAX_QUEUED_RUNS_PER_USER = env_int("MOLEXP_MAX_QUEUED_RUNS_PER_USER", 10_000)
MOLEXP_MAX_QUEUED_RUNS_PER_WORKSPACE = env_int("MOLEXP_MAX_QUEUED_RUNS_PER_WORKSPACE", 20_000)
# Run history (status events) per page, on the run page and in /api/runs/{id}/history/.
MOLEXP_RUN_EVENTS_PAGE_SIZE = env_int("MOLEXP_RUN_EVENTS_PAGE_SIZE", 100)
# Sign-in throttling (molexp_site/throttle.py): failed attempts per (username, client address) and
# per client address, then locks that double from LOCKOUT_SECONDS up to LOCKOUT_MAX_SECONDS.
# The cache holds sign-in failure counters and API throttles, so every web process must share
# it: a file cache in var/ on one machine (the embedded default), Redis across machines.
MOLEXP_CACHE_URL = env_str("MOLEXP_CACHE_URL", "")
if MOLEXP_CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": MOLEXP_CACHE_URL}}
elif MOLEXP_CACHE_URL:
    raise ImproperlyConfigured(f"MOLEXP_CACHE_URL={MOLEXP_CACHE_URL!r}: only redis:// URLs are supported")
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
# Operations (docs/operations.md): /healthz and /metrics.
# /metrics answers a request carrying "Authorization: Bearer <MOLEXP_METRICS_TOKEN>"; without a token
# set, only a direct loopback client (no proxy headers) is let in.
MOLEXP_METRICS_TOKEN = env_str("MOLEXP_METRICS_TOKEN", "")
# The periodic maintenance counts as stale (beat or the default-queue worker down) past this age.
MOLEXP_HEALTH_MAINTENANCE_MAX_AGE = env_int(
    "MOLEXP_HEALTH_MAINTENANCE_MAX_AGE", max(60, 4 * env_int("MOLEXP_MAINTENANCE_INTERVAL", 15))
)
# Counters and histograms of the request path live in the web processes: prometheus_client's
# multiprocess mode sums the files they write here (wiped when gunicorn starts, molexp_site/gunicorn_conf.py).
# prometheus_client reads the variable when it is first imported, hence the environment.
MOLEXP_METRICS_DIR = Path(os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(VAR_DIR / "prometheus")))
MOLEXP_METRICS_DIR.mkdir(parents=True, exist_ok=True)
MOLEXP_LOGIN_MAX_FAILURES = env_int("MOLEXP_LOGIN_MAX_FAILURES", 10)
MOLEXP_LOGIN_MAX_FAILURES_PER_CLIENT = env_int("MOLEXP_LOGIN_MAX_FAILURES_PER_CLIENT", 30)
MOLEXP_LOGIN_WINDOW_SECONDS = env_int("MOLEXP_LOGIN_WINDOW_SECONDS", 300)
MOLEXP_LOGIN_LOCKOUT_SECONDS = env_int("MOLEXP_LOGIN_LOCKOUT_SECONDS", 60)
MOLEXP_LOGIN_LOCKOUT_MAX_SECONDS = env_int("MOLEXP_LOGIN_LOCKOUT_MAX_SECONDS", 3600)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
