from django.shortcuts import render

from projects.access import get_project_for_member


def _pending(request, slug, tab, title):
    project, membership = get_project_for_member(request, slug)
    context = {"project": project, "membership": membership, "active_tab": tab, "pending_title": title}
    return render(request, "projects/tab_pending.html", context)


def feed(request, slug):
    return _pending(request, slug, "activity", "The activity feed")


def insights(request, slug):
    return _pending(request, slug, "insights", "Insights")


def audit_log(request, slug):
    return _pending(request, slug, "audit", "The audit log")
