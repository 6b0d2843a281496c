# The image behind compose.yaml: the locked dependencies, the code, collected static files
# (served by whitenoise from the app itself).
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 KANGROW_DATA_DIR=/app/data \
    DJANGO_SETTINGS_MODULE=config.settings.production
WORKDIR /app
COPY requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY . .
# Build-time key only for collectstatic; the running containers get SECRET_KEY from .env.
RUN SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(64))')" \
    python manage.py collectstatic --noinput \
    && useradd --system --home /app kangrow && mkdir -p /app/data/media && chown -R kangrow /app/data
USER kangrow
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application", "--bind", "0.0.0.0:8000", "--worker-class", "gthread", "--workers", "2", "--threads", "4"]
