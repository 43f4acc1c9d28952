"""No page, API endpoint, admin class or management command writes a model itself: each calls its app's actions
(projects/actions.py, events/actions.py, monitoring/actions.py, notifications/actions.py, the ingest and feedback
layers), where auditing and the rules live once. Read from the source, so an entry point added later with its own
`.save()` fails here, not in an incident review."""

import ast
from pathlib import Path

from tests.system.processes import ROOT

APPS = ("projects", "events", "monitoring", "notifications", "outbound", "processes", "activityhub", "schemacheck")
ENTRY_FILES = ("views.py", "api.py", "admin.py", "admin_site.py", "settings_page.py")
ENTRY_FOLDERS = ("views/", "api/", "admin/", "management/commands/")
# The ORM's writing methods. `update` counts only on a queryset (dict.update and set.update are everywhere).
WRITES = {"save", "delete", "create", "bulk_create", "bulk_update", "get_or_create", "update_or_create", "update"}
QUERYSET_STEPS = {"objects", "filter", "exclude", "all", "select_for_update", "select_related", "for_project"}

# Entry points that may write directly, each with the reason.
ALLOWED = {
    # Seeds a fresh demo database with its users and projects: data for a visitor, not a change a team made.
    "activityhub/management/commands/demo_data.py",
    # The schema checker's operator repair (rows a foreign key would reject): it mends the database under the
    # models, below any project's rules, listing every row it touches before it changes one.
    "schemacheck/management/commands/repair_orphans.py",
}


def entry_points():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            inside = path.relative_to(ROOT / app).as_posix()
            if inside in ENTRY_FILES or inside.startswith(ENTRY_FOLDERS):
                yield path


def _on_a_queryset(node) -> bool:
    while isinstance(node, ast.Call | ast.Attribute):
        if isinstance(node, ast.Attribute) and node.attr in QUERYSET_STEPS:
            return True
        node = node.func if isinstance(node, ast.Call) else node.value
    return isinstance(node, ast.Name) and node.id in {"queryset", "qs"}


def direct_writes(source: str) -> list[str]:
    tree = ast.parse(source)
    decorators = {id(d) for node in ast.walk(tree) if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                  for d in node.decorator_list}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)) or id(node) in decorators:
            continue
        method = node.func.attr
        if method not in WRITES or any(k.arg == "commit" for k in node.keywords):  # form.save(commit=False)
            continue
        if method in {"update", "create"} and not _on_a_queryset(node.func.value):
            continue
        found.append(f"line {node.lineno}: {ast.unparse(node)[:100]}")
    return found


def test_no_entry_point_writes_a_model_itself():
    offenders = {}
    for path in entry_points():
        name = path.relative_to(ROOT).as_posix()
        if name not in ALLOWED and (writes := direct_writes(path.read_text())):
            offenders[name] = writes
    assert offenders == {}, "these write models themselves instead of calling their app's actions: " + repr(offenders)


def test_the_scan_finds_each_kind_of_direct_write():
    """The scan itself, on planted code: each of these must be found, and the allowed shapes must not."""
    planted = (
        "def view(request):\n"
        "    subscription.save()\n"
        "    HealthCheck.objects.filter(pk=1).update(due_at=None)\n"
        "    Project.objects.create(slug='x')\n"
        "    queryset.delete()\n"
        "    Membership.objects.get_or_create(user=u)\n"
    )
    assert len(direct_writes(planted)) == 5
    allowed = (
        "@router.delete('/x')\n"
        "def view(request):\n"
        "    context.update(a=1)\n"
        "    schedule = actions.create_schedule(form.save(commit=False))\n"
    )
    assert direct_writes(allowed) == []


def test_the_scan_reads_every_kind_of_entry_point():
    names = {path.relative_to(ROOT).as_posix() for path in entry_points()}
    for expected in ("events/views/activity.py", "events/api/activity.py", "monitoring/api.py", "monitoring/admin.py",
                     "projects/settings_page.py", "events/management/commands/clean_slate_message_events.py"):
        assert expected in names
    assert all(Path(ROOT, allowed).exists() for allowed in ALLOWED)
