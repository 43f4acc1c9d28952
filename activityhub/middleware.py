"""Cross-cutting response behaviour."""

from django.utils.cache import patch_vary_headers


class VaryOnHtmxMiddleware:
    """Pages answer htmx with a fragment and everyone else with the whole page at the same URL: say so in `Vary`,
    or the browser's Back button may show a cached fragment where a page belongs."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        patch_vary_headers(response, ("HX-Request",))
        return response
