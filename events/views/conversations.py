"""Conversations, feedback on answers, bookmarks and the answer-quality page.

Giving feedback, copying and bookmarking are a person's own opinion of an answer, not a change to the
project's data, so every member may do them, viewers included (`get_project_for_member(..., write=False)`).
Changing project data (creating conversations, messages) needs a read-write API key.
"""

from datetime import datetime

from django.contrib import messages as flash
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from lib.htmx import HtmxHttpRequest
from projects.access import get_project_for_member

from .. import feedback as acts
from ..conversation_forms import (
    CHUNK_SORTS,
    ChunkSortForm,
    ConversationSearchForm,
    CopiedForm,
    CopyUsageForm,
    FeedbackForm,
)
from ..models.messages import (
    Bookmark,
    ChunkPerformance,
    Conversation,
    CopyUsage,
    Feedback,
    Message,
    MessageEvent,
    MessageEventType,
    MessageRole,
    NeedMoreReason,
)
from ..quality import cached_content_gaps, last_rollup, recently_rated_answers


@require_GET
def conversation_list(request: HtmxHttpRequest, slug):
    project, membership = get_project_for_member(request, slug)
    form = ConversationSearchForm(request.GET)
    valid = form.is_valid()
    query = form.cleaned_data.get("q", "") if valid else ""
    conversations = Conversation.objects.for_project(project).search(query).with_stats().order_by("-created_at", "-id")
    page = Paginator(conversations, 25).get_page((form.cleaned_data.get("page") if valid else None) or 1)
    context = {"project": project, "membership": membership, "active_tab": "conversations", "form": form,
               "query": query, "page": page}
    template = "events/conversations.html#results" if request.htmx else "events/conversations.html"
    return render(request, template, context)


@require_GET
def conversation_detail(request, slug, conversation_id):
    project, membership = get_project_for_member(request, slug)
    conversation = get_object_or_404(Conversation, pk=conversation_id, project=project)
    messages = list(conversation.messages.all())
    states = acts.answer_states(request.user, [m for m in messages if m.role == MessageRole.ASSISTANT])
    copied = CopiedForm(request.GET)
    copy_event = None
    if copied.is_valid() and copied.cleaned_data["copied"]:
        # After a copy without JavaScript: ask "how will you use it?" under that answer.
        copy_event = MessageEvent.objects.copies().filter(
            pk=copied.cleaned_data["copied"], user=request.user, conversation=conversation
        ).first()
    for message in messages:
        # Per-request annotations the template reads beside the model's own fields.
        message.state = states.get(message.pk)  # type: ignore[attr-defined]  # not a model field: this page's
        message.copy_event = copy_event if copy_event and copy_event.message_id == message.pk else None  # type: ignore[attr-defined]  # likewise
    context = {"project": project, "membership": membership, "active_tab": "conversations",
               "conversation": conversation, "messages_list": messages, **_form_context()}
    return render(request, "events/conversation.html", context)


def _form_context():
    return {"reasons": NeedMoreReason.choices, "usages": CopyUsage.choices, "Feedback": Feedback}


def _answer(request, slug, message_id):
    """The assistant message addressed by the URL, in a project the user is a member of (else 404)."""
    project, membership = get_project_for_member(request, slug)
    message = get_object_or_404(
        Message.objects.select_related("conversation"),
        pk=message_id, conversation__project=project, role=MessageRole.ASSISTANT,
    )
    return project, message


def _answer_response(request: HtmxHttpRequest, project, message, *, status=200, notice=None, error=None, copy_event=None, form=None):
    """The answer's action bar: the htmx fragment, or (without JavaScript) back to the conversation."""
    if request.htmx:
        message.state = acts.answer_states(request.user, [message])[message.pk]
        message.copy_event = copy_event
        context = {"project": project, "message": message, "notice": notice, "error": error, "form": form, **_form_context()}
        return render(request, "events/conversation.html#actions", context, status=status)
    if error:
        flash.error(request, error)
    elif notice:
        flash.success(request, notice)
    url = reverse("events:conversation", args=[project.slug, message.conversation_id])
    if copy_event is not None:
        url += f"?copied={copy_event.pk}"
    return redirect(f"{url}#message-{message.pk}")


@require_POST
def give_feedback(request, slug, message_id):
    project, message = _answer(request, slug, message_id)
    form = FeedbackForm(request.POST)
    if not form.is_valid():
        error = " ".join(str(e) for errors in form.errors.values() for e in errors)
        return _answer_response(request, project, message, status=422, error=error, form=form)
    kind = form.cleaned_data["feedback"]
    if kind == Feedback.NEED_MORE:
        acts.ask_for_more(message, request.user, form.cleaned_data["needs_more"], form.cleaned_data["specific_situation"])
        notice = "Thanks: we noted what would help."
    else:
        acts.rate(message, request.user, kind)
        notice = f"Marked {Feedback(kind).label.lower()}."
    return _answer_response(request, project, message, notice=notice)


@require_POST
def copy_answer(request, slug, message_id):
    """Stage 1 of the copy flow (the browser already put the text on the clipboard): record it, ask the use."""
    project, message = _answer(request, slug, message_id)
    event = acts.record_copy(message, request.user)
    return _answer_response(request, project, message, notice="Copied to the clipboard.", copy_event=event)


@require_POST
def copy_usage(request, slug, message_id, event_id):
    """Stage 2: the answer to "how will you use it?" updates the same copy event."""
    project, message = _answer(request, slug, message_id)
    event = get_object_or_404(MessageEvent.objects.copies(), pk=event_id, message=message, user=request.user)
    form = CopyUsageForm(request.POST)
    if not form.is_valid():
        return _answer_response(request, project, message, status=422, copy_event=event,
                                error="Choose how you will use the copied answer.")
    acts.record_copy_usage(event, form.cleaned_data["usage"], form.cleaned_data["context"])
    return _answer_response(request, project, message, notice=f"Noted: {CopyUsage(form.cleaned_data['usage']).label.lower()}.")


@require_POST
def toggle_bookmark(request, slug, message_id):
    project, message = _answer(request, slug, message_id)
    bookmarked = acts.toggle_bookmark(message, request.user)
    return _answer_response(request, project, message, notice="Bookmarked." if bookmarked else "Bookmark removed.")


@require_GET
def bookmarks(request):
    """My bookmarks across every project I am a member of."""
    items = (
        Bookmark.objects.mine(request.user)
        .select_related("message__conversation__project")
        .order_by("-created_at", "-id")
    )
    page = Paginator(items, 50).get_page(_page(request))
    return render(request, "events/bookmarks.html", {"page": page})


def _page(request):
    form = ConversationSearchForm(request.GET)
    return (form.cleaned_data.get("page") if form.is_valid() else None) or 1


@require_POST
def bookmark_remove(request: HtmxHttpRequest, bookmark_id):
    # Only my own bookmark: anyone else's is a 404, like an unknown id.
    bookmark = get_object_or_404(Bookmark, pk=bookmark_id, user=request.user)
    acts.remove_bookmark(bookmark)
    if request.htmx:
        return HttpResponse("")  # the row swaps itself out
    flash.success(request, "Bookmark removed.")
    return redirect("events:bookmarks")


@require_GET
def answer_quality(request: HtmxHttpRequest, slug):
    project, membership = get_project_for_member(request, slug)
    form = ChunkSortForm(request.GET)
    sort = form.sort_order()
    chunks = Paginator(ChunkPerformance.objects.for_project(project).order_by(sort, "chunk_id"), 50)
    chunk_page = chunks.get_page((form.cleaned_data.get("page") if form.is_valid() else None) or 1)
    field, descending = sort.lstrip("-"), sort.startswith("-")
    columns = [
        {"name": name, "label": label, "active": name == field,
         "aria_sort": ("descending" if descending else "ascending") if name == field else "none",
         # Clicking the active column flips it; a new column starts with the largest first (names A→Z).
         "next": (name if descending else f"-{name}") if name == field else (name if name == "chunk_id" else f"-{name}")}
        for name, label in CHUNK_SORTS
    ]
    context = {"project": project, "membership": membership, "active_tab": "quality", "chunk_page": chunk_page,
               "columns": columns, "sort": sort, "rollup": last_rollup()}
    if request.htmx:
        return render(request, "events/quality.html#chunks", context)

    per_message = recently_rated_answers(project)
    totals = MessageEvent.objects.for_project(project).feedback().aggregate(
        helpful=Count("id", filter=Q(feedback=Feedback.HELPFUL)),
        not_helpful=Count("id", filter=Q(feedback=Feedback.NOT_HELPFUL)),
        need_more=Count("id", filter=Q(feedback=Feedback.NEED_MORE)),
    )
    totals["copies"] = MessageEvent.objects.for_project(project).filter(event_type=MessageEventType.COPY).count()
    rated_total = totals["helpful"] + totals["not_helpful"]
    totals["satisfaction"] = totals["helpful"] / rated_total if rated_total else None
    gaps = cached_content_gaps(project)
    context |= {"per_message": per_message, "totals": totals, "gaps": gaps,
                "gaps_computed_at": datetime.fromisoformat(gaps["computed_at"])}
    return render(request, "events/quality.html", context)
