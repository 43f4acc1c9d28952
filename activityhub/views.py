from django.shortcuts import render

from projects.models import Membership


def home(request):
    memberships = Membership.objects.filter(user=request.user).select_related("project").order_by("project__name")
    return render(request, "home.html", {"memberships": memberships})
