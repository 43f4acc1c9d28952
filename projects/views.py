from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from lib.htmx import HtmxHttpRequest, already_gone

from . import actions
from .access import get_project_for_member
from .forms import AddMemberForm, ProjectForm, RetentionForm, RoleForm
from .models import LastOwnerError, Membership
from .settings_page import members_card, retention_card, retention_impact, settings_context
from .streams import take_revealed_secret


def project_list(request):
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        project = actions.create_project(form.save(commit=False), user=request.user)
        messages.success(request, f"Project “{project.name}” created. You are its owner.")
        return redirect(project)
    memberships = Membership.objects.of_user(request.user)
    status = 400 if form.errors else 200
    return render(request, "projects/list.html", {"memberships": memberships, "form": form}, status=status)


def console(request, slug):
    project, membership = get_project_for_member(request, slug)
    members = project.memberships.select_related("user").order_by("user__username")
    return render(
        request,
        "projects/console.html",
        {"project": project, "membership": membership, "members": members, "active_tab": "overview"},
    )


def settings_page(request, slug):
    project, membership = get_project_for_member(request, slug)
    secret = take_revealed_secret(request, project) if membership.is_owner else None
    response = render(request, "projects/settings.html", settings_context(project, membership, stream_secret=secret))
    if secret:
        response["Cache-Control"] = "no-store"  # the stream's signing secret is in this response only
    return response


def _members_response(request: HtmxHttpRequest, project, membership, status=200, **extra):
    """The members card: the htmx fragment, or a redirect back to Settings for a plain form post."""
    if request.htmx:
        return render(request, "projects/settings.html#members", members_card(project, membership, **extra), status=status)
    if extra.get("error"):
        messages.error(request, extra["error"])
    return redirect("projects:settings", slug=project.slug)


@require_POST
def member_add(request: HtmxHttpRequest, slug):
    project, membership = get_project_for_member(request, slug, owner=True)
    form = AddMemberForm(request.POST, project=project)
    if not form.is_valid():
        if request.htmx:
            return _members_response(request, project, membership, status=422, add_form=form)
        return render(request, "projects/settings.html", settings_context(project, membership, add_form=form), status=422)
    added = actions.add_member(project, form.user, form.cleaned_data["role"])
    return _members_response(request, project, membership, notice=f"{form.user.username} added as {added.get_role_display().lower()}.")


def _member_gone(request, project, member_id):
    """A stale tab acting on a member someone already removed: the row leaves the screen, with a notice.
    (An id that belongs to another project's member stays a 404.)"""
    if Membership.objects.filter(pk=member_id).exists():
        raise Http404("No such member in this project.")
    return already_gone(request, "That member had already been removed from the project.",
                        reverse("projects:settings", args=[project.slug]))


@require_POST
def member_role(request, slug, member_id):
    project, membership = get_project_for_member(request, slug, owner=True)
    target = Membership.objects.filter(pk=member_id, project=project).first()
    if target is None:
        return _member_gone(request, project, member_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _members_response(request, project, membership, status=422, error="Choose owner, editor or viewer.")
    try:
        actions.set_member_role(target, form.cleaned_data["role"])
    except LastOwnerError as exc:
        return _members_response(request, project, membership, status=409, error=str(exc))
    return _members_response(request, project, membership, notice=f"{target.user.username} is now {target.get_role_display().lower()}.")


@require_POST
def member_remove(request, slug, member_id):
    project, membership = get_project_for_member(request, slug, owner=True)
    target = Membership.objects.filter(pk=member_id, project=project).first()
    if target is None:
        return _member_gone(request, project, member_id)
    try:
        actions.remove_membership(target, by_user=request.user)
    except LastOwnerError as exc:
        return _members_response(request, project, membership, status=409, error=str(exc))
    if target.user_id == request.user.id:
        messages.info(request, f"You left {project.name}.")
        return redirect("projects:list")
    return _members_response(request, project, membership, notice=f"{target.user.username} removed.")


@require_POST
def retention_update(request: HtmxHttpRequest, slug):
    """Save how long activity is kept. A valid value that would remove something is first confirmed: the card
    says how many events and actions go and when, and a second post (confirm=1) saves it."""
    project, membership = get_project_for_member(request, slug, owner=True)
    form = RetentionForm(request.POST, instance=project)
    if not form.is_valid():
        project.refresh_from_db(fields=["retention_days"])  # the card shows what is stored beside the error
        if request.htmx:
            return render(request, "projects/settings.html#retention", retention_card(project, membership, form), status=422)
        return render(request, "projects/settings.html", settings_context(project, membership, retention_form=form),
                      status=422)
    days = form.cleaned_data["retention_days"]
    if request.POST.get("confirm") != "1":
        impact = retention_impact(project, days)
        if impact.total:
            project.refresh_from_db(fields=["retention_days"])  # nothing is saved until it is confirmed
            if request.htmx:
                return render(request, "projects/settings.html#retention",
                              retention_card(project, membership, form, retention_impact=impact))
            return render(request, "projects/settings.html",
                          settings_context(project, membership, retention_form=form, retention_impact=impact))
    actions.set_retention(project, days)
    notice = f"Activity older than {days:,} day{'s' if days != 1 else ''} will be removed."
    if request.htmx:
        return render(request, "projects/settings.html#retention", retention_card(project, membership, retention_notice=notice))
    messages.success(request, notice)
    return redirect("projects:settings", slug=project.slug)
