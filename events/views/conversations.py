from django.shortcuts import render

from projects.access import get_project_for_member


def _pending(request, slug, tab, title):
    project, membership = get_project_for_member(request, slug)
    context = {"project": project, "membership": membership, "active_tab": tab, "pending_title": title}
    return render(request, "projects/tab_pending.html", context)


def conversation_list(request, slug):
    return _pending(request, slug, "conversations", "Conversations")


def answer_quality(request, slug):
    return _pending(request, slug, "quality", "Answer quality")


def bookmarks(request):
    return render(request, "events/bookmarks_pending.html")
