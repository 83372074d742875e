# The web app, for docker-compose users (the project itself runs without Docker: see README).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md babel.cfg ./
COPY graphsvc graphsvc
COPY web web
COPY cypher cypher
RUN pip install --no-cache-dir -c constraints.txt -e . \
 && pybabel compile --use-fuzzy -d web/translations \
 && useradd --system --no-create-home graphsvc
USER graphsvc
EXPOSE 5000
CMD ["gunicorn", "--bind", "0.0.0.0:5000", "--workers", "2", "--access-logfile", "-", "web:create_app()"]
