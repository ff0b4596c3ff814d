import os

from django.conf import settings
from django.core.asgi import get_asgi_application

from accord.postgres import guard

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accord.settings")

application = get_asgi_application()
guard.install_from_settings(default_deadline=settings.ACCORD_DB_REQUEST_TIMEOUT)
