# One image for web, worker and beat; docker-compose.yml picks the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ACCORD_VAR_DIR=/var/lib/accord
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --system --home /app accord && mkdir -p /var/lib/accord && chown accord /var/lib/accord
# collectstatic needs settings; these throwaway values only exist during the build.
RUN ACCORD_ENV=development DJANGO_SECRET_KEY=build-only ACCORD_VAR_DIR=/var/lib/accord \
    python manage.py collectstatic --noinput --verbosity 0 && chown -R accord /var/lib/accord
USER accord
EXPOSE 8000
