"""Login with a rate limit: LOGIN_RATE_LIMIT attempts a minute per client IP and per username."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.core.cache import cache

WINDOW_SECONDS = 60


def _count_attempt(key: str) -> int:
    # add() starts the window only once; incr() keeps its expiry.
    cache.add(key, 0, WINDOW_SECONDS)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, WINDOW_SECONDS)
        return 1


class RateLimitedLoginView(auth_views.LoginView):
    redirect_authenticated_user = True

    def post(self, request, *args, **kwargs):
        ip = request.META.get("REMOTE_ADDR", "unknown")
        username = (request.POST.get("username") or "").strip().lower()
        over_ip = _count_attempt(f"login-attempts:ip:{ip}") > settings.LOGIN_RATE_LIMIT
        over_user = bool(username) and _count_attempt(f"login-attempts:user:{username}") > settings.LOGIN_RATE_LIMIT
        if over_ip or over_user:
            form = self.get_form()
            form.errors.clear()
            form.add_error(
                None,
                "Too many sign-in attempts. Wait a minute, then try again.",
            )
            response = self.render_to_response(self.get_context_data(form=form))
            response.status_code = 429
            response["Retry-After"] = str(WINDOW_SECONDS)
            return response
        return super().post(request, *args, **kwargs)
