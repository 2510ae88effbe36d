"""/static/ served by the app itself (SERVE_STATIC), with hostile paths answered 404."""

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse


class StaticFiles(ASGIStaticFilesHandler):
    """Django's handler turns only Http404 into a response: a path escaping the static
    folder (`/static/%2e%2e/...`) or holding a NUL byte raised out of the app, a 500 with a
    logged traceback. Both are simply files that do not exist."""

    def serve(self, request: HttpRequest) -> HttpResponse:
        try:
            return super().serve(request)
        except (SuspiciousOperation, ValueError):
            raise Http404("No such file.") from None
