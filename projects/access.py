"""The one place that decides who may see or change a project."""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import Membership


def get_project_for_member(request, slug, *, write=False, owner=False):
    """Return (project, membership) for the signed-in member.

    Non-members get 404 (a project's existence is not revealed); a member without the needed role gets 403:
    `write=True` needs owner or editor, `owner=True` needs owner.
    """
    user = request.user
    if not user.is_authenticated:
        raise Http404("No such project.")
    membership = (
        Membership.objects.select_related("project").filter(user=user, project__slug=slug).first()
    )
    if membership is None:
        raise Http404("No such project.")
    if owner and not membership.is_owner:
        raise PermissionDenied("Only the project's owners can do that.")
    if write and not membership.can_write:
        raise PermissionDenied("Viewers can read this project but not change it.")
    return membership.project, membership
