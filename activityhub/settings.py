"""ActivityHub settings, read from the environment.

Development is the default: SQLite file, DEBUG on, an insecure key. Set PRODUCTION=1 for a deployment:
it requires SECRET_KEY and ALLOWED_HOSTS and turns on every setting `manage.py check --deploy` asks for.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


PRODUCTION = env_bool("PRODUCTION", False)
DEBUG = env_bool("DEBUG", not PRODUCTION)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when PRODUCTION=1.")
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production"  # noqa: S105  # development only: PRODUCTION=1 refuses to start without SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "" if PRODUCTION else "127.0.0.1,localhost,[::1]")
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when PRODUCTION=1.")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "activityhub.admin_site.ActivityHubAdminConfig",  # django.contrib.admin with hardened change lists
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",  # SearchVectorField for the feed's stored full-text document (inert on SQLite)
    "django_htmx",
    "django_filters",
    "django_tasks_db",
    "axes",  # sign-in throttling (activityhub.auth)
    "ninja",  # its templates and static files: the API docs page works offline and under our CSP
    "activityhub",
    "projects",
    "events",
    "monitoring",
    "notifications",
    "schemacheck",  # check_schema and the `database` system check; no models
    "processes",  # the periodic jobs, the scheduler, the task workers and their heartbeats
    "outbound",  # the one delivery log and its retry loop (outbound.engine); guarded outbound HTTP
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "activityhub.middleware.AuditContextMiddleware",  # who is acting, for the audit trail (after authentication)
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "activityhub.faults.DatabaseUnavailableMiddleware",  # a busy or lost database: friendly 503 page, not a 500
    # After the 503 page: a replica failing mid-view is first re-run on the primary (process_exception runs inner first).
    "activityhub.db_router.ReplicaReadsMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "activityhub.middleware.VaryOnHtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out sign-in into activityhub.auth.lockout_response
]

ROOT_URLCONF = "activityhub.urls"
WSGI_APPLICATION = "activityhub.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "builtins": ["lib.status"],  # {% status_badge %}: the one status badge
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "lib.live.sse.context",  # live_streams: ASGI serves the live pages' streams, WSGI polls
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0")),
        # A persistent connection the database dropped is replaced at the start of the next request, not failed on.
        conn_health_checks=True,
    )
}
# Below gunicorn's 30 s worker timeout, so a request stuck behind a lock or a runaway query gets its 503 (and its
# transaction rolled back) instead of a SIGKILLed worker and a 500. Milliseconds; 0 turns a limit off.
DATABASE_STATEMENT_TIMEOUT_MS = int(os.environ.get("DATABASE_STATEMENT_TIMEOUT_MS", "20000"))
DATABASE_LOCK_TIMEOUT_MS = int(os.environ.get("DATABASE_LOCK_TIMEOUT_MS", "5000"))
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = (
        f"-c statement_timeout={DATABASE_STATEMENT_TIMEOUT_MS} -c lock_timeout={DATABASE_LOCK_TIMEOUT_MS}"
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Web, worker and scheduler write one file: take the write lock when a transaction starts and wait for it up to
    # the lock timeout (a deferred transaction that must upgrade its lock fails at once with "database is locked");
    # WAL lets readers go on while one process writes.
    DATABASES["default"].setdefault("OPTIONS", {}).update({
        "transaction_mode": "IMMEDIATE",
        "timeout": (DATABASE_LOCK_TIMEOUT_MS or 3_600_000) / 1000,
        "init_command": "PRAGMA journal_mode=WAL;",
    })
    # Tests use a file too, not an in-memory shared cache: threads and processes of one test then wait for the write
    # lock as production's do (a shared cache answers "database table is locked" at once instead of waiting).
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / ".test-db.sqlite3")}
# Read replicas (comma-separated URLs): aliases "replica", "replica_2", … Lag-tolerant reads go there (see
# activityhub/db_router.py); in tests each mirrors default, whose test database streaming replication copies.
for _number, _url in enumerate(env_list("DATABASE_REPLICA_URL"), 1):
    _replica = dj_database_url.parse(
        _url, conn_max_age=int(os.environ.get("CONN_MAX_AGE", "0")), conn_health_checks=True
    )
    if _replica["ENGINE"] == "django.db.backends.postgresql":
        _replica.setdefault("OPTIONS", {}).setdefault("connect_timeout", 2)  # a dead replica host must not hang reads
        _replica["OPTIONS"].setdefault("options", DATABASES["default"].get("OPTIONS", {}).get("options", ""))
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES["replica" if _number == 1 else f"replica_{_number}"] = _replica
DATABASE_ROUTERS = ["activityhub.db_router.ReplicaRouter"]
# A replica further behind than this (seconds) is skipped: its reads go to the primary.
REPLICA_MAX_LAG_SECONDS = float(os.environ.get("REPLICA_MAX_LAG_SECONDS", "5"))
# After a write, the same browser session (cookie) or API key reads from the primary for this many seconds.
REPLICA_READ_YOUR_WRITES_SECONDS = int(os.environ.get("REPLICA_READ_YOUR_WRITES_SECONDS", "5"))
# How often each process re-probes a replica's reachability and lag.
REPLICA_CHECK_SECONDS = float(os.environ.get("REPLICA_CHECK_SECONDS", "1"))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Covering indexes (INCLUDE) are a PostgreSQL speed-up; SQLite builds the same index on its key columns.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

# Several processes (web workers, daemons) share counters such as the login rate limit: use Redis when given.
if os.environ.get("REDIS_URL"):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": os.environ["REDIS_URL"]}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Live pages (lib/live): Redis pub/sub when REDIS_URL is set, else PostgreSQL LISTEN/NOTIFY or, on SQLite, UNIX
# datagram sockets. LIVE_BACKEND=redis|postgres|sockets chooses one by name.
LIVE_REDIS_URL = os.environ.get("LIVE_REDIS_URL") or os.environ.get("REDIS_URL") or ""
LIVE_BACKEND = os.environ.get("LIVE_BACKEND", "")
LIVE_CHANNEL_PREFIX = os.environ.get("LIVE_CHANNEL_PREFIX", "activityhub:live")
LIVE_SOCKET_DIR = os.environ.get("LIVE_SOCKET_DIR", "")  # default: a directory under /tmp named for the database
LIVE_DB_THREADS = int(os.environ.get("LIVE_DB_THREADS", "4"))  # database reads of the open streams, per process

# Background tasks (django.tasks): in the database by default; through Redis when TASKS_URL (or REDIS_URL) is set.
# TASKS_URL=db forces the database even when REDIS_URL is set for the cache.
TASKS_URL = os.environ.get("TASKS_URL") or os.environ.get("REDIS_URL") or "db"
if TASKS_URL == "db":
    TASKS: dict[str, dict[str, object]] = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
elif TASKS_URL.startswith(("redis://", "rediss://", "unix://")):
    INSTALLED_APPS.append("django_tasks_redis")  # its admin lists the tasks stored in Redis
    TASKS = {
        "default": {
            "BACKEND": "django_tasks_redis.RedisTaskBackend",
            "QUEUES": [],
            "OPTIONS": {
                "REDIS_URL": TASKS_URL,
                "REDIS_KEY_PREFIX": os.environ.get("TASKS_KEY_PREFIX", "activityhub_tasks"),
                "REDIS_CONSUMER_GROUP": os.environ.get("TASKS_KEY_PREFIX", "activityhub_tasks") + "_workers",
                # A task running longer than this is taken to belong to a dead worker and runs again elsewhere.
                "REDIS_CLAIM_TIMEOUT": int(os.environ.get("TASKS_CLAIM_TIMEOUT", "300")),
                "REDIS_BLOCK_TIMEOUT": 1000,
            },
        }
    }
else:
    raise ImproperlyConfigured(f"TASKS_URL must be 'db' or a redis:// URL, not {TASKS_URL!r}.")
# A failing periodic job is retried TASK_MAX_ATTEMPTS times in all, base × 2^(attempt-1) seconds apart.
TASK_MAX_ATTEMPTS = int(os.environ.get("TASK_MAX_ATTEMPTS", "4"))
TASK_RETRY_BASE_SECONDS = float(os.environ.get("TASK_RETRY_BASE_SECONDS", "30"))
# PostgreSQL: monthly partitions of the activity events and audit actions exist this many months ahead
# (created by migrate and the scheduler's `activity-partitions` job; events/partitions.py).
PARTITION_MONTHS_AHEAD = int(os.environ.get("PARTITION_MONTHS_AHEAD", "1"))
# prune_activity deletes rows this many at a time where it cannot drop a whole partition.
RETENTION_DELETE_BATCH = int(os.environ.get("RETENTION_DELETE_BATCH", "5000"))
# Stream the audit trail as JSON Lines, one file per project and UTC hour (<dir>/<project>/YYYY/MM/DD/HH.jsonl,
# the layout of an S3 bucket); empty: off. Written by the scheduler's stream-audit job or `manage.py stream_audit`.
AUDIT_STREAM_DIR = os.environ.get("AUDIT_STREAM_DIR", "")
# Seconds between worker/scheduler heartbeats; a process silent for 3 × this is reported dead by /healthz?deep=1.
HEARTBEAT_SECONDS = float(os.environ.get("HEARTBEAT_SECONDS", "10"))
# A task running longer than its deadline is reported stuck (with its name) by /healthz?deep=1. This is the deadline
# of tasks that declare none; WORKER_STUCK_SECONDS is its former name, still read.
TASK_DEADLINE_SECONDS = float(os.environ.get("TASK_DEADLINE_SECONDS") or os.environ.get("WORKER_STUCK_SECONDS") or "900")
# How often the scheduler enqueues a monitoring pass (health checks, missed schedules, notifications); a pass
# running longer than MONITOR_PASS_DEADLINE_FACTOR × this is stuck (it waits for no health check).
MONITOR_INTERVAL_SECONDS = float(os.environ.get("MONITOR_INTERVAL_SECONDS", "10"))
MONITOR_PASS_DEADLINE_FACTOR = float(os.environ.get("MONITOR_PASS_DEADLINE_FACTOR", "3"))
# Health checks each worker runs at once, each on a thread of its own (a slow server holds only its own).
MONITOR_CHECK_THREADS = int(os.environ.get("MONITOR_CHECK_THREADS", "8"))

def env_first(*names, default):
    """The first of these environment variables that is set (a new name, then the older names it replaces)."""
    return next((os.environ[n] for n in names if os.environ.get(n)), default)


# Deliveries (outbound.engine: monitoring alerts and project notifications, one log and one retry loop). A failed
# attempt is retried up to DELIVERY_<STREAM>_MAX_ATTEMPTS attempts in all, base × 2^(attempt-1) seconds apart,
# spread by ±DELIVERY_RETRY_JITTER: alerts 5 attempts from 30 s (minutes: someone is on call), notifications
# 8 attempts from 680 s (about a day). Each request ends within DELIVERY_TIMEOUT_SECONDS.
# Older names still read for one release, as fallbacks: MONITORING_MAX_ATTEMPTS, MONITORING_RETRY_BASE_SECONDS,
# MONITORING_RETRY_JITTER, NOTIFICATIONS_MAX_ATTEMPTS, NOTIFICATIONS_RETRY_BASE_SECONDS, NOTIFICATIONS_TIMEOUT_SECONDS
# and NOTIFICATIONS_DISABLE_AFTER.
DELIVERY_TIMEOUT_SECONDS = float(env_first("DELIVERY_TIMEOUT_SECONDS", "NOTIFICATIONS_TIMEOUT_SECONDS", default="10"))
DELIVERY_RETRY_JITTER = float(env_first("DELIVERY_RETRY_JITTER", "MONITORING_RETRY_JITTER", default="0.1"))
DELIVERY_ALERT_MAX_ATTEMPTS = int(env_first("DELIVERY_ALERT_MAX_ATTEMPTS", "MONITORING_MAX_ATTEMPTS", default="5"))
DELIVERY_ALERT_RETRY_BASE_SECONDS = float(
    env_first("DELIVERY_ALERT_RETRY_BASE_SECONDS", "MONITORING_RETRY_BASE_SECONDS", default="30"))
DELIVERY_NOTIFICATION_MAX_ATTEMPTS = int(
    env_first("DELIVERY_NOTIFICATION_MAX_ATTEMPTS", "NOTIFICATIONS_MAX_ATTEMPTS", default="8"))
DELIVERY_NOTIFICATION_RETRY_BASE_SECONDS = float(
    env_first("DELIVERY_NOTIFICATION_RETRY_BASE_SECONDS", "NOTIFICATIONS_RETRY_BASE_SECONDS", default="680"))
# A subscription whose deliveries fail for this many events in a row is disabled and its project's owners told.
DELIVERY_DISABLE_AFTER = int(env_first("DELIVERY_DISABLE_AFTER", "NOTIFICATIONS_DISABLE_AFTER", default="20"))
# After a webhook secret is rotated, the previous one still signs (a second v1= signature) for this long.
NOTIFICATIONS_SECRET_OVERLAP_HOURS = float(os.environ.get("NOTIFICATIONS_SECRET_OVERLAP_HOURS", "24"))
# Each process remembers for this long whether a project has any notification rule (saves a query per ingest).
NOTIFICATIONS_RULES_CACHE_SECONDS = float(os.environ.get("NOTIFICATIONS_RULES_CACHE_SECONDS", "5"))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
# Sign-in throttling (django-axes, see activityhub.auth): LOGIN_FAILURE_LIMIT failed sign-ins for one username
# from one client address lock that pair for LOGIN_LOCKOUT_MINUTES; counted in the database, shared by all workers.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
LOGIN_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "10"))
LOGIN_LOCKOUT_MINUTES = int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15"))
# Reverse proxies in front of the app that append to X-Forwarded-For (0: the socket address is the client).
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=LOGIN_LOCKOUT_MINUTES)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "activityhub.auth.client_ip"
AXES_LOCKOUT_CALLABLE = "activityhub.auth.lockout_response"
AXES_VERBOSE = False
# API requests per API key, "N/s", "N/min" or "N/hour" (429 with Retry-After beyond it).
API_RATE_LIMIT = os.environ.get("API_RATE_LIMIT", "600/min")
# Where people and crons reach the dashboard, e.g. "https://activity.example.com": the origin of every absolute
# link (alerts, the ping URLs a schedule shows; lib/urls.py). Unset: the request's own host, or a bare path.
SITE_URL = os.environ.get("SITE_URL", "").rstrip("/")
# Pings per ping URL ("N/s", "N/min", "N/hour"); past it a ping gets 429 and is not stored (monitoring/ping.py).
PING_RATE_LIMIT = os.environ.get("PING_RATE_LIMIT", "30/min")
# How much of a ping's request body is kept with its run (bytes; the rest is cut off).
PING_BODY_LIMIT_BYTES = int(os.environ.get("PING_BODY_LIMIT_BYTES", "10000"))
# API keys are stored as HMAC-SHA256 with this secret (default SECRET_KEY; set it to rotate SECRET_KEY freely).
API_KEY_HASH_SECRET = os.environ.get("API_KEY_HASH_SECRET", "")
# Outbound requests (health checks, webhooks; see outbound.guard): loopback and private-network targets are
# refused in production unless allowed here; link-local/metadata, unspecified and multicast ones always are.
OUTBOUND_ALLOW_LOOPBACK = env_bool("OUTBOUND_ALLOW_LOOPBACK", not PRODUCTION)
OUTBOUND_ALLOW_PRIVATE = env_bool("OUTBOUND_ALLOW_PRIVATE", not PRODUCTION)
# Saving a URL checks where its host name points; a lookup slower than this is given up (request() checks again).
# At request time the lookup comes out of the request's own deadline instead.
OUTBOUND_DNS_TIMEOUT_SECONDS = float(os.environ.get("OUTBOUND_DNS_TIMEOUT_SECONDS", "2"))
# How often the activity feed polls for new events and for in-progress rows.
ACTIVITY_POLL_SECONDS = int(os.environ.get("ACTIVITY_POLL_SECONDS", "10"))

# Monitoring alerts: where they go (their retries: DELIVERY_ALERT_* above).
MONITORING_NOTIFICATIONS = [
    *([{"channel": "slack", "target": os.environ["MONITORING_SLACK_WEBHOOK_URL"]}] if os.environ.get("MONITORING_SLACK_WEBHOOK_URL") else []),
    *([{"channel": "webhook", "target": os.environ["MONITORING_WEBHOOK_URL"]}] if os.environ.get("MONITORING_WEBHOOK_URL") else []),
    *({"channel": "email", "target": address} for address in env_list("MONITORING_EMAIL_TO")),
]

# Email (monitoring alerts), in Django 6.1's MAILERS form: SMTP in production or when EMAIL_HOST is set
# (default host localhost), otherwise printed to the console.
if PRODUCTION or os.environ.get("EMAIL_HOST"):
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": os.environ.get("EMAIL_HOST", "localhost"),
                "port": int(os.environ.get("EMAIL_PORT", "25")),
                "username": os.environ.get("EMAIL_HOST_USER", ""),
                "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
                "use_tls": env_bool("EMAIL_USE_TLS", False),
            },
        }
    }
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "ActivityHub <activityhub@localhost>")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Outside production whitenoise serves straight from the static folders, so the demo can run with DEBUG off (and
# show the product's own 404 and 500 pages) without collectstatic.
WHITENOISE_USE_FINDERS = not PRODUCTION
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Strict CSP: scripts only from our origin or with the per-request nonce; no inline styles.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

if PRODUCTION:
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # Django's own "django" console handler prints only with DEBUG and would print twice beside the root's.
    "loggers": {"django": {"handlers": ["console"], "level": "INFO", "propagate": False},
                "django.db.backends": {"level": "INFO"}, "axes": {"level": "WARNING"}},
}
