import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from accord.postgres import guard

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accord.settings")

application = get_wsgi_application()
# A serving process never waits on a silent database for long: threads outside a request (the policy listener)
# get the request timeout too.
guard.install_from_settings(default_deadline=settings.ACCORD_DB_REQUEST_TIMEOUT)
