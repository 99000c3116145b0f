"""rime_web settings: one file, driven by environment variables.

Embedded defaults need nothing installed: SQLite, a local media folder and Celery's filesystem broker, all under the
git-ignored ``var/``. PostgreSQL (``DATABASE_URL``), Redis or RabbitMQ (``CELERY_BROKER_URL``) and S3
(``AWS_STORAGE_BUCKET_NAME`` and friends) are switched on by environment variables alone. Secrets never have a
default: ``make install`` writes generated local ones to ``var/local.env``, which is read here when present.
"""
from __future__ import annotations

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("RIME_VAR_DIR", BASE_DIR / "var"))

env = environ.Env()
LOCAL_ENV_FILE = VAR_DIR / "local.env"
if LOCAL_ENV_FILE.exists():
    # Real environment variables win over the generated local file.
    environ.Env.read_env(str(LOCAL_ENV_FILE), overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# True: every process (web, workers, beat) sees the same VAR_DIR (one machine, or a shared mount). False: they run on
# machines of their own; the start is refused unless storage, database, broker and cache are shared services
# (rime_web/checks.py, docs/deploy.md).
RIME_SHARED_DISK = env.bool("RIME_SHARED_DISK", default=True)
SECRET_KEY = env("DJANGO_SECRET_KEY", default=None)
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is not set. Run `make install` to generate local secrets in var/local.env, "
        "or set it in the environment."
    )
# Fernet keys (comma-separated, newest first) for integration secrets; older keys still decrypt, so keys rotate.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is not set (run `make install`, or set it in the environment).")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rime_web.apps.RimeWebConfig",  # the start-up checks of the deployment (rime_web/checks.py)
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "projects",
    "stresstests",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Before anything that could read a body: oversized API bodies are refused unread (projects/api/limits.py).
    "projects.api.limits.ApiBodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "rime_web.middleware.ContentSecurityPolicyMiddleware",
]

ROOT_URLCONF = "rime_web.urls"

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
            ],
        },
    },
]

WSGI_APPLICATION = "rime_web.wsgi.application"

# --- Database -----------------------------------------------------------------------------------------------------
SQLITE_PATH = VAR_DIR / "db.sqlite3"
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{SQLITE_PATH}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the worker share the file: WAL and immediate transactions avoid "database is locked".
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL;",
        "timeout": 20,
    }
    # Tests need a file (not :memory:) so a real worker process can see the rows; one file per test process.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    test_name = env("DATABASE_TEST_NAME", default=None)
    if test_name:
        DATABASES["default"]["TEST"] = {"NAME": test_name}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
# Sign-in back-off (rime_web/auth.py): the failure that reaches a limit locks for BASE seconds, each later one doubles
# it up to MAX. Limits are per (client address, username) and per address; never per username alone, so a stranger
# cannot lock a user out. LOGIN_TRUSTED_PROXIES: reverse proxies in front whose X-Forwarded-For is believed.
LOGIN_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
LOGIN_ADDRESS_FAILURE_LIMIT = env.int("LOGIN_ADDRESS_FAILURE_LIMIT", default=20)
LOGIN_BACKOFF_BASE_S = env.int("LOGIN_BACKOFF_BASE_S", default=60)
LOGIN_BACKOFF_MAX_S = env.int("LOGIN_BACKOFF_MAX_S", default=60 * 60)
LOGIN_FAILURE_MEMORY_S = env.int("LOGIN_FAILURE_MEMORY_S", default=24 * 60 * 60)
LOGIN_TRUSTED_PROXIES = env.int("LOGIN_TRUSTED_PROXIES", default=0)
# Attempts on one username from all addresses together per minute: past it sign-in waits for the next minute (a rate
# that slows a guessing botnet without locking the account).
LOGIN_USERNAME_ATTEMPTS_PER_MINUTE = env.int("LOGIN_USERNAME_ATTEMPTS_PER_MINUTE", default=30)
LOGIN_REDIRECT_URL = "projects:workspace_list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Cache (login rate limits) ------------------------------------------------------------------------------------
REDIS_CACHE_URL = env("REDIS_CACHE_URL", default="")
# A test session gets its own folder: sign-in counters and cached pages must not leak between sessions.
_cache_folder = VAR_DIR / (f"test-cache-{os.getpid()}" if os.environ.get("PYTEST_VERSION") else "cache")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_CACHE_URL}
        if REDIS_CACHE_URL
        # Shared by every web and worker process of one machine, so limits and cached pages hold across them.
        else {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(_cache_folder)}
    )
}

# --- Static files and storage ---------------------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns on every request when it is missing.
# Local runs serve static files straight from static/ and the apps; production runs `collectstatic`.
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"

AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
            "region_name": env("AWS_S3_REGION_NAME", default=None),
            "access_key": env("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env("AWS_SECRET_ACCESS_KEY", default=None),
            "addressing_style": env("AWS_S3_ADDRESSING_STYLE", default="path"),
            "location": env("AWS_LOCATION", default="uploads"),
            "file_overwrite": False,
        },
    }
else:
    default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
STORAGES = {
    "default": default_storage,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Largest upload accepted (model files, datasets); bigger requests are refused before they are read.
MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_BYTES", default=512 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# JSON and form bodies of the API (the upload endpoints take MAX_UPLOAD_BYTES): RIME configs are a few KB, so 2 MB
# leaves room for long column lists while a 50 MB body is refused with 413 before it is read.
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=2 * 1024 * 1024)
# Deepest nesting of lists/objects in an API JSON body (400 beyond); RIME's deepest config is about 6 levels.
API_MAX_JSON_DEPTH = env.int("API_MAX_JSON_DEPTH", default=32)
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
# Server folders that datasets may be registered from by path (besides uploads and S3).
DATA_PATH_ALLOWLIST = [Path(p) for p in env.list("DATA_PATH_ALLOWLIST", default=[])]
# Hosts and networks (comma-separated names, addresses or CIDRs) that integrations may reach although they are private,
# loopback, link-local or this server's own database/broker/cache (projects/registries/egress.py); e.g. an in-house MinIO.
OUTBOUND_ALLOWED_HOSTS = env.list("OUTBOUND_ALLOWED_HOSTS", default=[])

# --- Celery ---------------------------------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_folder = Path(env("CELERY_BROKER_FOLDER", default=str(VAR_DIR / "broker")))
    if os.environ.get("PYTEST_VERSION") and "CELERY_BROKER_FOLDER" not in os.environ:
        # Each test session gets its own queue folder so concurrent sessions never steal each other's tasks.
        _broker_folder = VAR_DIR / f"test-broker-{os.getpid()}"
    CELERY_BROKER_FOLDER = _broker_folder
    for _sub in ("queue", "processed", "control"):
        (_broker_folder / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_folder / "queue"),
        "data_folder_out": str(_broker_folder / "queue"),
        "processed_folder": str(_broker_folder / "processed"),
        "control_folder": str(_broker_folder / "control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_FOLDER = None
    # Redis: a run that takes longer than this is redelivered, so keep it above the hard time limit.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 4 * 3600}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_ROUTES = {"stresstests.run_stress_test": {"queue": "stresstests"}}
CELERY_WORKER_QUEUES = "default,stresstests"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Stress-test runs: the soft limit lets the task record a clear message before the hard limit kills it.
STRESS_TEST_SOFT_TIME_LIMIT = env.int("STRESS_TEST_SOFT_TIME_LIMIT", default=3 * 3600)
STRESS_TEST_TIME_LIMIT = env.int("STRESS_TEST_TIME_LIMIT", default=3 * 3600 + 300)
# Recovery (stresstests/recovery.py): a run whose heartbeat is older than STALE is failed by the reaper, which beat
# runs every REAPER_INTERVAL (so a dead worker's run is failed within STALE + REAPER_INTERVAL = 60 s by default); a
# queued run that no worker claimed for REQUEUE_AFTER (its message lost with the broker) is queued again.
STRESS_TEST_HEARTBEAT_STALE_S = env.int("STRESS_TEST_HEARTBEAT_STALE_S", default=45)
STRESS_TEST_REAPER_INTERVAL_S = env.int("STRESS_TEST_REAPER_INTERVAL_S", default=15)
STRESS_TEST_REQUEUE_AFTER_S = env.int("STRESS_TEST_REQUEUE_AFTER_S", default=60)
# Every worker records that it is alive and which queues it consumes every WORKER_PRESENCE_INTERVAL_S
# (stresstests/presence.py); a worker not seen for 4 intervals counts as gone, and a queued run whose queue no live
# worker consumes says so (the run page, /v1/jobs/<id>, the admin's Workspace page).
WORKER_PRESENCE_INTERVAL_S = env.int("WORKER_PRESENCE_INTERVAL_S", default=15)
# The model sandbox's writable space (stresstests/engine/sandbox.py): the size of its tmpfs under bubblewrap (its
# copy of the model's files, HOME and TMPDIR) and, in every mode, the largest file it may write. RAM-backed.
STRESS_TEST_SANDBOX_DISK_MB = env.int("STRESS_TEST_SANDBOX_DISK_MB", default=1024)
# Processes the sandboxed model may have at once under bubblewrap (RLIMIT_NPROC of its user, bwrap's two included);
# each gets the full memory and CPU limits. Not enforced when the worker runs as root (docs/sandbox.md).
STRESS_TEST_SANDBOX_MAX_PROCESSES = env.int("STRESS_TEST_SANDBOX_MAX_PROCESSES", default=64)
# A dataset is read whole while the Parquet row groups to read declare at most this many rows and this much memory
# once decoded (CSV and JSON Lines: while their text is at most a quarter of the memory); past that it is streamed in
# batches and sampled (stresstests/engine/data_stream.py), so a worker's memory stays bounded whatever the file size.
# A single row group larger than the memory limit is refused (800 KB of zero row groups can declare 100 million rows).
DATASET_PARQUET_MAX_ROWS = env.int("DATASET_PARQUET_MAX_ROWS", default=20_000_000)
# 256 MB: a 474 MB Parquet file or a 341 MB CSV read whole took a worker to 2.1 GB (issue 18); streamed, to ~0.5 GB.
DATASET_PARQUET_MAX_MEMORY_MB = env.int("DATASET_PARQUET_MAX_MEMORY_MB", default=256)
# A streamed read keeps this many rows (reservoir-sampled with the run's seed), decodes this many at once, and refuses
# a file of more rows than DATASET_STREAM_MAX_ROWS (it would take hours).
DATASET_STREAM_SAMPLE_ROWS = env.int("DATASET_STREAM_SAMPLE_ROWS", default=200_000)
DATASET_STREAM_BATCH_ROWS = env.int("DATASET_STREAM_BATCH_ROWS", default=65_536)
DATASET_STREAM_MAX_ROWS = env.int("DATASET_STREAM_MAX_ROWS", default=2_000_000_000)
# The largest dataset file read from S3 or a server path, and a .gz one's decompressed size: an S3 object is streamed
# to the worker's temporary folder first, so this is also the free disk a worker needs (uploads keep MAX_UPLOAD_BYTES).
DATASET_STREAM_MAX_BYTES = env.int("DATASET_STREAM_MAX_BYTES", default=50 * 1024**3)
CELERY_BEAT_SCHEDULE = {
    # `expires`: checks piled up while no worker was listening are dropped, not run back to back.
    "stresstests-reap-stale-runs": {
        "task": "stresstests.reap_stale_runs",
        "schedule": float(STRESS_TEST_REAPER_INTERVAL_S),
        "options": {"expires": float(STRESS_TEST_REAPER_INTERVAL_S)},
    },
    "stresstests-requeue-lost-runs": {
        "task": "stresstests.requeue_lost_runs",
        "schedule": float(STRESS_TEST_REAPER_INTERVAL_S),
        "options": {"expires": float(STRESS_TEST_REAPER_INTERVAL_S)},
    },
}

# --- REST framework -------------------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "projects.api.limits.DepthLimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "rime_web API",
    "DESCRIPTION": "RIME-compatible /v1 API (rime-sdk 2.13.2) plus rime_web's own upload and report endpoints. "
    "Authenticate with the `rime-api-key` header.",
    "VERSION": "2.13.2",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Separate request components, so a FileField is described as a binary upload (format: binary), not a URL.
    "COMPONENT_SPLIT_REQUEST": True,
}

# --- Security -------------------------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie, but forms still need the cookie.
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG and env.bool("DJANGO_SECURE", default=False):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
