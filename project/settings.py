"""One settings module, configured by environment variables (see README: Configuration)."""

import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

from project.env import env_bool, env_float, env_int, env_list, env_str
from project.oidc import PROVIDER_ID, oidc_providers, provider_name

BASE_DIR = Path(__file__).resolve().parent.parent
RUN_DIR = Path(env_str("RUN_DIR", str(BASE_DIR / ".run")))


def _secret_key() -> str:
    """Use SECRET_KEY, else a random key kept in RUN_DIR so sessions survive restarts."""
    key = env_str("SECRET_KEY")
    if key:
        return key
    path = RUN_DIR / "secret_key"
    if not path.exists():
        RUN_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
# HTTPS, HSTS, CSP and login throttling: see "Access and browser security" at the end.

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "template_partials",
    "chat",
    "accounts",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "project.private_pages.NoStoreForPrivatePages",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "project.urls"
ASGI_APPLICATION = "project.asgi.application"

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
                "chat.context_processors.chat_settings",
            ],
        },
    },
]


def _database() -> dict:
    url = env_str("DATABASE_URL")
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            # Keep the file open: Channels closes "old" connections around every socket event,
            # and reopening SQLite (with its PRAGMAs) cost ~10 % of the server's CPU under load.
            "CONN_MAX_AGE": None,
            # WAL lets readers run while a turn writes; IMMEDIATE avoids lock upgrades failing.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    config = dj_database_url.parse(url)
    if config["ENGINE"] == "django.db.backends.postgresql":
        # psycopg 3's pool: many turns share a few connections.
        config["CONN_MAX_AGE"] = 0
        config.setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": env_int("DATABASE_POOL_SIZE", 10, minimum=1),
        }
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Pub/sub: one PUBLISH per message (measured ~5x cheaper than RedisChannelLayer).
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("REDIS_PREFIX", "chat")},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("REDIS_PREFIX", "chat"),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# django-axes first: it refuses a locked-out username+address before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- Single sign-on (optional): OpenID Connect through django-allauth ---
# Nothing of allauth is loaded unless OIDC_SERVER_URL, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are set.
SOCIALACCOUNT_PROVIDERS = oidc_providers()
OIDC_ENABLED = bool(SOCIALACCOUNT_PROVIDERS)
OIDC_PROVIDER_NAME = provider_name()
OIDC_PROVIDER_ID = PROVIDER_ID  # for the login button (accounts/templatetags/sso.py)
if OIDC_ENABLED:
    INSTALLED_APPS += [
        "allauth",
        "allauth.account",
        "allauth.socialaccount",
        "allauth.socialaccount.providers.openid_connect",
    ]
    MIDDLEWARE.append("allauth.account.middleware.AccountMiddleware")
    AUTHENTICATION_BACKENDS.append("allauth.account.auth_backends.AuthenticationBackend")
    ACCOUNT_ADAPTER = "accounts.sso.NoLocalSignupAdapter"  # accounts come from admins and invites
    SOCIALACCOUNT_ADAPTER = "accounts.sso.SsoAdapter"  # ... or from the identity provider
    ACCOUNT_EMAIL_VERIFICATION = "none"  # the identity provider vouches for its people
    SOCIALACCOUNT_OPENID_CONNECT_URL_PREFIX = ""

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# Serve /static/ from the app itself unless a proxy in front does it.
SERVE_STATIC = env_bool("SERVE_STATIC", True)
# Generated images (image_generation) are saved through Django's storage under MEDIA_ROOT
# and served only by chat.views_images after the conversation's permission check.
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
MEDIA_URL = "media/"  # never routed: files go out through the checked view only

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"daphne": {"level": "WARNING"}, "httpx": {"level": "WARNING"}},
}

# --- Upstream (OpenAI Responses API or a compatible server) ---
OPENAI_API_KEY = env_str("OPENAI_API_KEY")
OPENAI_BASE_URL = env_str("OPENAI_BASE_URL").rstrip("/")
# With neither set, the embedded local model answers (chat/local_model.py).
USE_LOCAL_MODEL = not OPENAI_API_KEY and not OPENAI_BASE_URL
CHAT_MODEL = env_str("CHAT_MODEL", "smollm2" if USE_LOCAL_MODEL else "gpt-5-mini")
# The models people may choose, each `name:context_window:features` (README: Configuration;
# chat/conversation_settings/catalog.py); the embedded local model is offered alone.
CHAT_MODELS = env_list(
    "CHAT_MODELS",
    [
        "gpt-5-mini:400000:reasoning+tools+background",
        "gpt-5:400000:reasoning+tools+background",
        "gpt-4.1-mini:1047576:tools+background",
        "gpt-4o-mini:128000:tools+background",
    ],
)
CHAT_INSTRUCTIONS = env_str("CHAT_INSTRUCTIONS", "You are a helpful assistant.")
CHAT_MAX_OUTPUT_TOKENS = env_int("CHAT_MAX_OUTPUT_TOKENS", 512 if USE_LOCAL_MODEL else 0)
CHAT_MAX_MESSAGE_CHARS = env_int("CHAT_MAX_MESSAGE_CHARS", 32_000, minimum=1)
UPSTREAM_CONNECT_TIMEOUT = env_float("UPSTREAM_CONNECT_TIMEOUT", 5.0, minimum=0.01)
UPSTREAM_FIRST_EVENT_TIMEOUT = env_float("UPSTREAM_FIRST_EVENT_TIMEOUT", 120.0, minimum=0.01)
UPSTREAM_IDLE_TIMEOUT = env_float("UPSTREAM_IDLE_TIMEOUT", 60.0, minimum=0.01)
UPSTREAM_MAX_RETRIES = env_int("UPSTREAM_MAX_RETRIES", 2)
UPSTREAM_MAX_RETRY_WAIT = env_float("UPSTREAM_MAX_RETRY_WAIT", 20.0)
UPSTREAM_MAX_CONNECTIONS = env_int("UPSTREAM_MAX_CONNECTIONS", 1000, minimum=1)

# --- Turns ---
CHAT_FLUSH_INTERVAL = env_int("CHAT_FLUSH_INTERVAL_MS", 30) / 1000
# Under load (many live turns in the process) the window widens up to this (chat/turns/ticker.py).
CHAT_FLUSH_INTERVAL_MAX = env_int("CHAT_FLUSH_INTERVAL_MAX_MS", 40) / 1000
CHAT_CHECKPOINT_INTERVAL = env_float("CHAT_CHECKPOINT_SECONDS", 2.0, minimum=0.1)
TURN_LEASE_SECONDS = env_float("TURN_LEASE_SECONDS", 30.0, minimum=1.0)

# --- Embedded local model ---
LOCAL_MODEL_PRELOAD = env_bool("LOCAL_MODEL_PRELOAD", False)
LOCAL_MODEL_THREADS = env_int("LOCAL_MODEL_THREADS", 2, minimum=1)
LOCAL_MODEL_PARALLEL = env_int("LOCAL_MODEL_PARALLEL", 4, minimum=1)
LOCAL_MODEL_STATE_FILE = Path(env_str("LOCAL_MODEL_STATE_FILE", str(RUN_DIR / "local-model.json")))

# --- Process lifecycle ---
SWEEP_INTERVAL = env_float("SWEEP_INTERVAL_SECONDS", 10.0, minimum=0.1)
SHUTDOWN_DRAIN_SECONDS = env_float("SHUTDOWN_DRAIN_SECONDS", 10.0)
CHAT_SIGNAL_HANDLERS = env_bool("CHAT_SIGNAL_HANDLERS", True)
# Read by project/asgi.py from os.environ (it must be known before settings in tests):
# CHAT_START_SERVICES_AT_IMPORT, default true.
CHAT_TURNS_PER_MINUTE = env_int("CHAT_TURNS_PER_MINUTE", 30)
# Background mode (OpenAI): responses are stored upstream, so a turn whose process died is
# resumed from its last checkpoint instead of being marked interrupted.
CHAT_BACKGROUND = env_bool("CHAT_BACKGROUND", False)
# After the first answer, a short upstream request names the conversation (chat/history/titles.py).
CHAT_AUTO_TITLES = env_bool("CHAT_AUTO_TITLES", True)
# Hosted tools (run by the model server, chat/tools/hosted.py): which ones a deployment
# offers, and their options. A conversation may switch offered ones off, never others on.
CHAT_HOSTED_TOOLS = env_list("CHAT_HOSTED_TOOLS", [])
CHAT_FILE_SEARCH_VECTOR_STORES = env_list("CHAT_FILE_SEARCH_VECTOR_STORES", [])
CHAT_MCP_SERVER_URL = env_str("CHAT_MCP_SERVER_URL", "")
CHAT_MCP_SERVER_LABEL = env_str("CHAT_MCP_SERVER_LABEL", "mcp")
CHAT_MCP_ALLOWED_TOOLS = env_list("CHAT_MCP_ALLOWED_TOOLS", [])
CHAT_MCP_REQUIRE_APPROVAL = env_str("CHAT_MCP_REQUIRE_APPROVAL", "always")
CHAT_MAX_IMAGE_BYTES = env_int("CHAT_MAX_IMAGE_BYTES", 16 * 1024 * 1024, minimum=1024)

# Tools and reasoning (README: Configuration). Function tools run by the server: dotted paths
# to chat.tools.registry.Tool objects (the built-ins by default; none for the small local
# model, which cannot use them). A turn runs at most CHAT_MAX_TOOL_ROUNDS tool rounds.
CHAT_TOOLS = env_list(
    "CHAT_TOOLS",
    []
    if USE_LOCAL_MODEL
    else ["chat.tools.clock.TOOL", "chat.tools.calculator.TOOL", "chat.tools.search.TOOL"],
)
CHAT_TOOLS_STRICT = env_bool("CHAT_TOOLS_STRICT", True)  # false for servers without `strict`
CHAT_MAX_TOOL_ROUNDS = env_int("CHAT_MAX_TOOL_ROUNDS", 8)
CHAT_MAX_TOOL_CALLS = env_int("CHAT_MAX_TOOL_CALLS", 16, minimum=1)  # per round
CHAT_TOOL_TIMEOUT = env_float("CHAT_TOOL_TIMEOUT_SECONDS", 15.0, minimum=0.01)
CHAT_TOOL_OUTPUT_CHARS = env_int("CHAT_TOOL_OUTPUT_CHARS", 16_000, minimum=100)
# Reasoning: models whose name starts with one of these prefixes get
# `reasoning: {effort, summary: "auto"}`; an empty effort leaves the server's default.
CHAT_REASONING_MODELS = env_list("CHAT_REASONING_MODELS", ["gpt-5", "o1", "o3", "o4", "codex"])
CHAT_REASONING_EFFORT = env_str("CHAT_REASONING_EFFORT", "")
# False: requests say `store: false` and carry reasoning back as encrypted content.
CHAT_STORE = env_bool("CHAT_STORE", True)
if CHAT_REASONING_EFFORT not in ("", "none", "minimal", "low", "medium", "high", "xhigh"):
    raise ValueError(
        f"CHAT_REASONING_EFFORT={CHAT_REASONING_EFFORT!r}: use none, minimal, low, medium or high"
    )

# --- Access and browser security (chat/health.py, project/origin.py) ---
# /healthz asks the upstream at most this often per process; probes in between reuse the answer.
HEALTH_UPSTREAM_CACHE_SECONDS = env_float("HEALTH_UPSTREAM_CACHE_SECONDS", 60.0)

# HTTPS: all off by default (a plain-http single machine must keep working); README says when
# to turn each on. Django's SecurityMiddleware sends HSTS only on requests that came over HTTPS.
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_HTTPS_PROXY", False) else None
)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]  # probes ask over plain http from inside
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"


def _origin(url: str) -> str:
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


# Content-Security-Policy (django-csp): this site's own scripts, styles and images only; no
# inline code and no eval (templates have none; htmx's own <style> is off in base.html).
# Forms may also go to the single sign-on provider (its login page is a redirect from a POST).
_FORM_TARGETS = [
    _origin(app["settings"]["server_url"])
    for app in SOCIALACCOUNT_PROVIDERS.get("openid_connect", {}).get("APPS", [])
]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'none'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        # data: for the previews of an image being drawn (chat/tool_views.py lets through only
        # checked png/jpeg/webp base64; answer markdown images never become <img>).
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],  # includes this site's ws:// and wss:// (CSP level 3)
        "form-action": ["'self'", *_FORM_TARGETS],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'none'"],
        "object-src": ["'none'"],
    }
}

# Login throttling (django-axes): after LOGIN_FAILURE_LIMIT wrong passwords for one username
# from one address, that pair is refused for LOGIN_LOCKOUT_MINUTES; the login page says so
# (accounts/lockout.py). Single sign-on is not throttled here: the identity provider does it.
# Behind a proxy the address is the real client's: the server rewrites it from
# X-Forwarded-For for FORWARDED_ALLOW_IPS only (project/serve.py).
INSTALLED_APPS.append("axes")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
AXES_ENABLED = env_bool("LOGIN_THROTTLING", True)
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_float("LOGIN_LOCKOUT_MINUTES", 15.0, minimum=0.1))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "accounts.lockout.locked_out"
AXES_VERBOSE = False
