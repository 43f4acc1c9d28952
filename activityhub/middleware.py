"""Cross-cutting response behaviour."""

from django.utils.cache import patch_vary_headers

from projects.audit import request_id_of, serving


class VaryOnHtmxMiddleware:
    """Pages answer htmx with a fragment and everyone else with the whole page at the same URL: say so in `Vary`,
    or the browser's Back button may show a cached fragment where a page belongs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        patch_vary_headers(response, ("HX-Request",))
        return response


class AuditContextMiddleware:
    """Every change recorded while serving a request is attributed to it (projects/audit.py): the signed-in user
    or the API key, the client's address, user agent and request id. The id is echoed in X-Request-ID."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id_of(request)
        with serving(request):
            response = self.get_response(request)
        response["X-Request-ID"] = request.request_id
        return response
