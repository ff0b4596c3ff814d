import os

from django.conf import settings
from django.core.wsgi import get_wsgi_application

from accord.postgres import guard
from accord.wsgi_limits import RequestBodyDeadline

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "accord.settings")

# Django sees a request only once its whole body is here (accord/wsgi_limits.py): a client that sends its body
# slowly, or never finishes it, is answered 408 instead of holding a thread, and a chunked body is read instead
# of being taken for an empty one. Bodies are kept as Django keeps them: a chunked one up to the API's limit,
# in memory up to FILE_UPLOAD_MAX_MEMORY_SIZE and in a temporary file beyond.
application = RequestBodyDeadline(
    get_wsgi_application(),
    timeout=settings.ACCORD_WEB_BODY_TIMEOUT,
    max_buffered=settings.DATA_UPLOAD_MAX_MEMORY_SIZE or settings.ACCORD_API_MAX_BODY_BYTES,  # None: no limit
    spool_bytes=settings.FILE_UPLOAD_MAX_MEMORY_SIZE,
    spool_dir=settings.FILE_UPLOAD_TEMP_DIR,
)
# A serving process never waits on a silent database for long: threads outside a request (the policy listener)
# get the request timeout too.
guard.install_from_settings(default_deadline=settings.ACCORD_DB_REQUEST_TIMEOUT)
