# One image for web, worker and beat; docker-compose.yml picks the command.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 ACCORD_VAR_DIR=/var/lib/accord
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN useradd --system --home /app accord && mkdir -p /var/lib/accord && chown accord /var/lib/accord
# collectstatic needs settings; development mode generates throwaway keys, which are removed again so that no
# secret is ever part of the image (production requires them from the environment).
RUN ACCORD_ENV=development python manage.py collectstatic --noinput --verbosity 0 \
    && rm -rf /var/lib/accord/secrets /var/lib/accord/broker /var/lib/accord/cache \
    && chown -R accord /var/lib/accord
USER accord
EXPOSE 8000
