"""`Cache-Control: no-store` on every page that depends on who is asking."""

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers, patch_cache_control


class NoStoreForPrivatePages:
    """A response that read the session (the person's pages, lists, admin, the login form
    with its token) must stay out of the browser's and any proxy's cache: after a logout,
    Back or a shared machine's disk would otherwise show someone's conversations. Static
    files never touch the session and stay cacheable.

    Sits just inside SessionMiddleware, which marks the session as accessed."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response) -> None:
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest):
        if iscoroutinefunction(self):
            return self._acall(request)
        return self._mark(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return self._mark(request, await self.get_response(request))

    @staticmethod
    def _mark(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        session = getattr(request, "session", None)
        if session is not None and (session.accessed or session.modified):
            add_never_cache_headers(response)  # no-cache, no-store, must-revalidate, private
            patch_cache_control(response, private=True)
        return response
