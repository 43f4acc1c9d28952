"""Settings → Notifications (owners and editors write; viewers read; outsiders 404), the delivery log with
Redeliver, personal preferences on /notifications/, and the Watch fragment of the feed and event pages."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from lib.htmx import SignedInHtmxRequest
from outbound.rendering import attempt_page
from projects.access import get_project_for_member
from projects.models import Membership

from . import actions, words
from . import watching as watching_words
from .forms import PreferenceForm, SubscriptionForm
from .models import Channel, Delivery, Level, Mode, Preference, Subscription, Watch

LOG_PAGE = 25


def _page(request, template, project, membership, status=200, **context):
    return render(request, template, {"project": project, "membership": membership, "active_tab": "settings",
                                      **context}, status=status)


SECRET_KEY_IN_SESSION = "notifications-new-secret"  # noqa: S105  # the session key's name, not a secret


def _reveal_next(request, subscription):
    """Show a just-made secret on the next page only (after the redirect: a reload neither re-posts nor shows it)."""
    if subscription.secret:
        request.session[SECRET_KEY_IN_SESSION] = [subscription.pk, subscription.secret]


def _take_revealed(request, subscription):
    pk, secret = request.session.pop(SECRET_KEY_IN_SESSION, [None, None])
    return secret if pk == subscription.pk else None


def subscription_list(request, slug):
    project, membership = get_project_for_member(request, slug)
    subscriptions = Subscription.objects.for_project(project).prefetch_related("recipients")
    return _page(request, "notifications/subscriptions.html", project, membership, subscriptions=subscriptions)


@require_http_methods(["GET", "POST"])
def subscription_create(request, slug):
    project, membership = get_project_for_member(request, slug, write=True)
    form = SubscriptionForm(request.POST or None, project=project)
    if request.method == "POST" and form.is_valid():
        subscription = form.save(commit=False)
        subscription.created_by = request.user
        actions.create_subscription(subscription, form=form)
        _reveal_next(request, subscription)
        messages.success(request, f"Subscription “{subscription.name}” created.")
        return redirect("notifications:subscription", slug=project.slug, pk=subscription.pk)
    return _page(request, "notifications/subscription_form.html", project, membership,
                 status=422 if form.is_bound else 200, form=form)


@require_http_methods(["GET", "POST"])
def subscription_detail(request, slug, pk):
    """The subscription's settings (editable by owners and editors) and its delivery log."""
    project, membership = get_project_for_member(request, slug, write=request.method == "POST")
    subscription = get_object_or_404(Subscription, pk=pk, project=project)
    before = actions.snapshot(subscription) if request.method == "POST" else {}
    form = SubscriptionForm(request.POST or None, instance=subscription, project=project)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            subscription = form.save(commit=False)
            if actions.save_subscription(subscription, before, form=form):  # became a webhook: its new secret
                _reveal_next(request, subscription)
            messages.success(request, f"Subscription “{subscription.name}” saved.")
            return redirect("notifications:subscription", slug=project.slug, pk=subscription.pk)
        status = 422
        subscription.refresh_from_db()
    log = Paginator(Delivery.objects.for_subscription(subscription).attempts_made().with_retry_queued().latest_first(), LOG_PAGE)
    deliveries = log.get_page(request.GET.get("page"))
    new_secret = _take_revealed(request, subscription) if request.method == "GET" else None
    response = _page(request, "notifications/subscription.html", project, membership, status=status,
                     subscription=subscription, form=form, deliveries=deliveries, new_secret=new_secret,
                     overlap_hours=settings.NOTIFICATIONS_SECRET_OVERLAP_HOURS if subscription.previous_secret else None)
    if new_secret:
        response["Cache-Control"] = "no-store"  # the secret is in this response only
    return response


@require_http_methods(["GET", "POST"])
def subscription_delete(request, slug, pk):
    project, membership = get_project_for_member(request, slug, write=True)
    subscription = get_object_or_404(Subscription, pk=pk, project=project)
    if request.method == "POST":
        actions.delete_subscription(subscription)
        messages.success(request, f"Subscription “{subscription.name}” and its delivery log deleted.")
        return redirect("notifications:subscriptions", slug=project.slug)
    return _page(request, "notifications/subscription_delete.html", project, membership, subscription=subscription)


@require_POST
def subscription_enable(request, slug, pk):
    project, membership = get_project_for_member(request, slug, write=True)
    subscription = get_object_or_404(Subscription, pk=pk, project=project)
    enable = request.POST.get("enabled") == "1"
    actions.set_subscription_enabled(subscription, enable)
    messages.success(request, f"Subscription “{subscription.name}” {'enabled' if enable else 'paused'}.")
    return redirect("notifications:subscription", slug=project.slug, pk=subscription.pk)


@require_POST
def subscription_rotate(request, slug, pk):
    project, membership = get_project_for_member(request, slug, write=True)
    subscription = get_object_or_404(Subscription, pk=pk, project=project, channel=Channel.WEBHOOK)
    actions.rotate_subscription_secret(subscription)
    _reveal_next(request, subscription)
    messages.success(request, "Secret rotated.")
    return redirect("notifications:subscription", slug=project.slug, pk=subscription.pk)


@require_POST
def redeliver(request, slug, pk, delivery_pk):
    project, membership = get_project_for_member(request, slug, write=True)
    subscription = get_object_or_404(Subscription, pk=pk, project=project)
    delivery = get_object_or_404(Delivery.objects.for_subscription(subscription), pk=delivery_pk)
    again = actions.redeliver(delivery)
    if again:
        messages.success(request, f"Redelivery of {delivery.delivery_id} queued as attempt {again.attempt}.")
    return redirect("notifications:subscription", slug=project.slug, pk=pk)


# ----- personal ------------------------------------------------------------------------------------------------


def preferences(request):
    """Per project: what to be told about and when; and the entities this member watches."""
    memberships = Membership.objects.filter(user=request.user).select_related("project").order_by("project__name")
    stored = {p.project_id: p for p in Preference.objects.filter(user=request.user)}
    if request.method == "POST":
        membership = get_object_or_404(memberships, project__slug=request.POST.get("project", ""))
        preference = stored.get(membership.project_id) or Preference(user=request.user, project=membership.project)
        form = PreferenceForm(request.POST, instance=preference, prefix=membership.project.slug)
        if form.is_valid():
            actions.save_preference(form)
            messages.success(request, f"Notifications from {membership.project.name} saved.")
            return redirect("notifications:preferences")
        return render(request, "notifications/preferences.html", {
            "rows": _preference_rows(request, memberships, stored, invalid={membership.project_id: form})
        }, status=422)
    return render(request, "notifications/preferences.html", {"rows": _preference_rows(request, memberships, stored)})


def _preference_rows(request, memberships, stored, invalid=None):
    watches: dict[int, list[Watch]] = {}
    for watch in Watch.objects.filter(user=request.user).order_by("entity_type", "entity_id"):
        watches.setdefault(watch.project_id, []).append(watch)
    rows = []
    for membership in memberships:
        project = membership.project
        form = (invalid or {}).get(project.pk) or PreferenceForm(
            instance=stored.get(project.pk) or Preference(level=Level.OFF, mode=Mode.IMMEDIATE), prefix=project.slug
        )
        rows.append({"project": project, "form": form, "watches": watches.get(project.pk, [])})
    return rows


@require_http_methods(["GET", "POST"])
def watch(request: SignedInHtmxRequest, slug):
    """The Watch button (any member, viewers too): the project's failures, or one entity with ?entity_type=&entity_id=.

    GET answers the button's current state (the feed loads it with htmx); POST toggles it.
    """
    project, membership = get_project_for_member(request, slug)
    source = request.POST if request.method == "POST" else request.GET
    entity_type, entity_id = source.get("entity_type", "")[:64], source.get("entity_id", "")[:128]
    if "\x00" in entity_type + entity_id or bool(entity_type) != bool(entity_id):
        return render(request, "notifications/_watch.html", {"error": "Give both entity_type and entity_id."},
                      status=400)
    if entity_type:
        if request.method == "POST":
            watching = actions.toggle_watch(request.user, project, entity_type, entity_id)
        else:
            watching = Watch.objects.filter(user=request.user, project=project, entity_type=entity_type,
                                            entity_id=entity_id).exists()
    elif request.method == "POST":
        watching = actions.toggle_failure_watch(request.user, project)
    else:
        preference = Preference.objects.filter(user=request.user, project=project).first()
        watching = preference is not None and preference.level != Level.OFF
    # Back to the page that shows the button (htmx says which), for the form's plain-post fallback.
    next_url = (request.htmx.current_url_abs_path if request.htmx else None) or request.get_full_path()
    context = {"project": project, "entity_type": entity_type, "entity_id": entity_id, "watching": watching,
               "next_url": next_url, "noun": watching_words.noun(entity_type) if entity_type else ""}
    if request.method == "POST" and not request.htmx:
        what = f"this {watching_words.noun(entity_type)}" if entity_type else f"failures in {project.name}"
        messages.success(request, f"You are now watching {what}." if watching else f"You stopped watching {what}.")
        return redirect(request.POST.get("next") or "notifications:preferences" if _safe_next(request)
                        else "notifications:preferences")
    return render(request, "notifications/_watch.html", context)


def _safe_next(request):
    from django.utils.http import url_has_allowed_host_and_scheme

    return url_has_allowed_host_and_scheme(request.POST.get("next"), allowed_hosts={request.get_host()},
                                           require_https=request.is_secure())


@login_not_required
@csrf_exempt  # a mail client's one-click POST (RFC 8058) carries no CSRF token; the signed token is the proof
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token):
    """The List-Unsubscribe link of a member's notification e-mails: GET asks, POST (one click) stops them."""
    found = words.read_unsubscribe_token(token)
    membership = Membership.objects.filter(user_id=found[0], project_id=found[1]).select_related(
        "project", "user").first() if found else None
    if membership is None:
        raise Http404("This unsubscribe link is not valid (or the membership it was for is gone).")
    done = request.method == "POST"
    if done:
        actions.unsubscribe_member(membership)
    return render(request, "notifications/unsubscribe.html", {"membership": membership, "done": done,
                                                              "token": token})


@require_POST
def subscription_ping(request, slug, pk):
    """Send test delivery: a small message to the subscription now, shown in its log like any attempt."""
    project, membership = get_project_for_member(request, slug, write=True)
    subscription = get_object_or_404(Subscription, pk=pk, project=project)
    sent = actions.send_test_delivery(subscription, by=request.user)
    if sent is not None:
        messages.success(request, f"Test delivery {sent.delivery_id} sent: it appears in the log below in a moment.")
    return redirect("notifications:subscription", slug=project.slug, pk=subscription.pk)


@require_http_methods(["GET"])
def delivery_detail(request, slug, pk, delivery_pk):
    """One attempt as GitHub shows it: the request's headers and body, the response's status, headers and body."""
    project, membership = get_project_for_member(request, slug)
    subscription = get_object_or_404(Subscription, pk=pk, project=project)
    delivery = get_object_or_404(Delivery.objects.for_subscription(subscription).with_retry_queued(), pk=delivery_pk)
    page = attempt_page(delivery, lambda a: reverse("notifications:delivery", args=[project.slug, subscription.pk, a.pk]),
                        note="asked for by hand" if delivery.manual else "")
    return _page(request, "notifications/delivery.html", project, membership, subscription=subscription, **page)
