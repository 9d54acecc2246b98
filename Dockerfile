# Governance Ledger: gunicorn serving the app factory, as an unprivileged user, data in /data.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY ledger ./ledger
COPY projections ./projections
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    LEDGER_DATABASE_URL=sqlite:////data/ledger.sqlite
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin ledger \
    && mkdir -p /data && chown ledger:ledger /data
USER ledger
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"
# `ledger serve` creates the tables once, then execs gunicorn (no --preload: one app per worker).
CMD ["ledger", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2"]
