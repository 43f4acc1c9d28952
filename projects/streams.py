"""Audit streaming in a project's Settings (owners only): set up the stream, change its URL, pause and resume it,
send a test delivery, remove it after a confirmation; each attempt's page (request and response, as GitHub shows them). Every change goes through projects/actions.py (audited);
the sending is notifications/audit_stream.py's, through the one delivery engine.

Plain form posts, answered with a redirect back to Settings (the card is the `audit_stream` partial of
projects/settings.html); the signing secret is kept in the session for the next page only, so it is shown once.
"""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from outbound.models import Delivery
from outbound.rendering import attempt_page

from . import actions
from .access import get_project_for_member
from .forms import AuditStreamForm
from .models import AuditStream
from .settings_page import settings_context

SECRET_IN_SESSION = "audit-stream-new-secret"  # noqa: S105  # the session key's name, not a secret


def take_revealed_secret(request, project):
    """The secret of a stream just made, for this one page (popped: a reload does not show it again)."""
    project_pk, secret = request.session.pop(SECRET_IN_SESSION, [None, None])
    return secret if project_pk == project.pk else None


def _stream_of(project):
    stream = AuditStream.objects.filter(project=project).select_related("project").first()
    if stream is None:
        raise Http404("This project has no audit stream.")
    return stream


def _back(project):
    response = redirect("projects:settings", slug=project.slug)
    response["Location"] += "#audit-stream"
    return response


@require_POST
def audit_stream_save(request, slug):
    """Start streaming (a new stream and its secret), or send the stream to another URL."""
    project, membership = get_project_for_member(request, slug, owner=True)
    stream = AuditStream.objects.filter(project=project).first()
    form = AuditStreamForm(request.POST)  # no instance: validating must not change the stream before the action does
    if not form.is_valid():
        return render(request, "projects/settings.html", settings_context(project, membership, stream_form=form),
                      status=422)
    url = form.cleaned_data["url"]
    if stream is None:
        try:
            stream, secret = actions.create_audit_stream(project, url, by=request.user)
        except actions.AuditStreamExists as exc:
            messages.error(request, str(exc))
            return _back(project)
        request.session[SECRET_IN_SESSION] = [project.pk, secret]
        messages.success(request, f"Audit streaming to {stream.host} set up: new entries are sent within a minute.")
    elif actions.change_audit_stream_url(stream, url):
        messages.success(request, f"The audit stream now goes to {stream.host}.")
    return _back(project)


@require_POST
def audit_stream_pause(request, slug):
    project, membership = get_project_for_member(request, slug, owner=True)
    stream = _stream_of(project)
    pause = request.POST.get("paused") == "1"
    if actions.set_audit_stream_paused(stream, pause):
        messages.success(request, "Audit stream paused: nothing is sent until you resume it." if pause else
                         f"Audit stream resumed from entry #{stream.sent_sequence + 1}.")
    return _back(project)


@require_POST
def audit_stream_remove(request, slug):
    """Remove the stream; asked first (the card shows a confirmation), done on the second post (confirm=1)."""
    project, membership = get_project_for_member(request, slug, owner=True)
    stream = _stream_of(project)
    if request.POST.get("confirm") != "1":
        return render(request, "projects/settings.html", settings_context(project, membership, confirm_remove=True))
    actions.delete_audit_stream(stream)
    messages.success(request, f"Audit stream to {stream.host} removed. Its signing secret no longer exists.")
    return _back(project)


@require_POST
def audit_stream_ping(request, slug):
    project, membership = get_project_for_member(request, slug, owner=True)
    stream = _stream_of(project)
    sent = actions.send_audit_stream_test(stream, by=request.user)
    if sent is not None:
        messages.success(request, f"Test delivery {sent.delivery_id} sent: it appears in the stream's log below.")
    return _back(project)


@require_GET
def audit_stream_delivery(request, slug, delivery_pk):
    """One attempt of the stream: the request's headers and body, the response's status, headers and body."""
    project, membership = get_project_for_member(request, slug, owner=True)
    stream = _stream_of(project)
    delivery = get_object_or_404(Delivery.objects.for_destination(stream.destination).with_retry_queued(),
                                 pk=delivery_pk)
    page = attempt_page(delivery, lambda a: reverse("projects:audit_stream_delivery", args=[project.slug, a.pk]),
                        note="a test delivery" if delivery.source == "ping" else "")
    return render(request, "projects/audit_stream_delivery.html", {
        "project": project, "membership": membership, "active_tab": "settings", "audit_stream": stream, **page})
