from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.templatetags.static import static

from projects.models import Membership


def home(request):
    memberships = Membership.objects.of_user(request.user)
    context = {"memberships": memberships}
    # Activity across my projects (events app).
    from events.views.activity import home_activity_context

    context.update(home_activity_context([m.project for m in memberships]))
    # Managers also see what monitoring says needs them (monitoring decides who is a manager).
    from monitoring.access import is_manager
    from monitoring.stats import needs_attention

    if is_manager(request.user):
        context["monitoring"] = needs_attention()
    return render(request, "home.html", context)


@login_not_required
def favicon(request):
    # Resolved per request: with hashed static files the name is known only after collectstatic.
    return redirect(static("favicon.svg"), permanent=True)
