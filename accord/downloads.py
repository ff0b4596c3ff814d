"""Files a page hands over for download."""

import json

from django.http import HttpResponse


def json_attachment(content: object, filename: str) -> HttpResponse:
    """``content`` as an indented JSON file named ``filename`` (a report or a certificate to keep)."""
    response = HttpResponse(json.dumps(content, indent=2, sort_keys=True), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
