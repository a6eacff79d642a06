# The image every safeguard service runs from (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY safeguard ./safeguard
COPY streams ./streams
COPY schemas ./schemas
COPY consumers ./consumers
COPY producers ./producers
RUN pip install --no-cache-dir .
RUN useradd --system --home /var/lib/safeguard safeguard && mkdir -p /var/lib/safeguard \
    && chown safeguard /var/lib/safeguard
USER safeguard
ENTRYPOINT []
CMD ["safeguard", "--help"]
