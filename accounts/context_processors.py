from django.conf import settings
from django.http import HttpRequest


def organisation(request: HttpRequest) -> dict[str, str]:
    return {"host_organisation_name": settings.ACCORD_HOST_ORGANISATION or "Accord"}
