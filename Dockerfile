# The web app, for docker-compose users (the project itself runs without Docker: see README).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md babel.cfg ./
COPY graphsvc graphsvc
COPY web web
# The state that is not in Neo4j (the audit journal; GRAPHSVC_STATE_DIR) lives in a folder
# the app's user owns (0700); docker-compose.yml mounts a volume on it, which starts as a
# copy of this folder, owner included. /app itself stays root's and read-only to the app.
ENV GRAPHSVC_STATE_DIR=/var/lib/graphsvc
RUN pip install --no-cache-dir -c constraints.txt -e . \
 && pybabel compile --use-fuzzy -d web/translations \
 && useradd --system --user-group --no-create-home graphsvc \
 && install -d -m 0700 -o graphsvc -g graphsvc /var/lib/graphsvc
USER graphsvc
EXPOSE 5000
# The same gunicorn settings as `graphsvc serve` everywhere (forwarded headers trusted only
# per GRAPHSVC_PROXY_HOPS, no control socket); it refuses to start when the journal is not writable.
CMD ["graphsvc", "serve", "--host", "0.0.0.0", "--port", "5000"]
