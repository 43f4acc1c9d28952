from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.templatetags.static import static

from projects.models import Membership


def home(request):
    memberships = Membership.objects.filter(user=request.user).select_related("project").order_by("project__name")
    return render(request, "home.html", {"memberships": memberships})


@login_not_required
def favicon(request):
    # Resolved per request: with hashed static files the name is known only after collectstatic.
    return redirect(static("favicon.svg"), permanent=True)
