"""Every named URL, as every role, on the demo data: the status the access rules give, and nothing broken on the page.

The routes come from walking the URLconf and their arguments from the demo's own objects, so a page added later is
swept without anyone listing it. On every HTML page: no merge-conflict marker, no unresolved template variable, no
duplicate element id, a label for every form control, no CSRF token in a GET URL, nothing the strict CSP blocks.
"""

import io
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from itertools import islice, product
from typing import Any

import pytest
from django.apps import apps
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import models
from django.test import Client
from django.urls import NoReverseMatch, URLPattern, URLResolver, get_resolver, reverse

from events.models.feeds import FeedToken
from projects.models import Membership, Project, Role

UNRESOLVED = "UNRESOLVED-TEMPLATE-VARIABLE"
CONFLICT_MARKER = re.compile(r"^(<{7}|={7}|>{7})( |$)", re.MULTILINE)
SIGNED_IN_ROLES = ["owner", "editor", "viewer", "manager", "outsider", "admin"]
ROLES = [*SIGNED_IN_ROLES, "anonymous"]
LABELLED_INPUT_TYPES_EXEMPT = {"hidden", "submit", "button", "reset", "image"}
# Pages that authenticate with a ?token= of their own rather than the session (feed readers carry no cookie).
TOKEN_AUTHENTICATED = {"events:feed_atom", "events:feed_json"}
# Live streams: under the sweep's WSGI client a stream answers 204 (EventSource stops, the page polls).
LIVE_STREAMS = {"events:feed_stream", "monitoring:stream"}
# Pages anyone may open, signed in or not.
PUBLIC = {"login", "healthz", "favicon", "api:openapi-json", "api:openapi-view", "api:api-root",
          "notifications:unsubscribe"}  # its signed token is the proof (a mail client's one-click link)


# --- the routes --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    name: str
    params: tuple[str, ...]
    converters: tuple[str, ...]

    @property
    def namespace(self) -> str:
        return self.name.partition(":")[0] if ":" in self.name else ""

    @property
    def kind(self) -> str:
        if self.namespace in {"api", "ping"}:  # machine endpoints (the API, cron ping URLs): tested on their own
            return "api"
        if self.namespace == "admin":
            return "admin"
        if self.name in PUBLIC:
            return "public"
        if self.namespace == "monitoring":
            return "managers"
        if "slug" in self.params:
            return "project"
        return "signed-in"


def named_routes(patterns=None, namespace=""):
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from named_routes(pattern.url_patterns, inner)
        elif isinstance(pattern, URLPattern) and pattern.name:
            converters = pattern.pattern.converters
            params = tuple(re.findall(r"<(?:\w+:)?(\w+)>", str(pattern.pattern)))
            yield Route(f"{namespace}{pattern.name}", params,
                        tuple(type(converters[p]).__name__ if p in converters else "str" for p in params))


# admin:view_on_site redirects to an object's page on the site by content type: Django's own, not a page.
ROUTES = sorted({route for route in named_routes() if route.name != "admin:view_on_site"}, key=lambda route: route.name)


# --- the demo's objects, as candidate arguments -----------------------------------------------------------------


def words(text: str) -> set[str]:
    return {w for w in re.split(r"[^a-z]+", text.lower()) if len(w) > 2} - {"the", "pk", "int", "slug"}


@dataclass
class World:
    project: Project
    users: dict[str, User]
    candidates: list[tuple[set[str], dict[str, object]]] = field(default_factory=list)

    def values_for(self, route: Route, param: str, converter: str) -> list[object]:
        """Values for one URL argument, the likeliest first: the model whose field has the argument's name, then
        models whose name shares words with the route's name."""
        if param == "slug":
            return [self.project.slug]
        if param == "token" and route.name == "notifications:unsubscribe":
            from notifications.words import unsubscribe_token

            return [unsubscribe_token(self.users["owner"].pk, self.project.pk)]
        if route.name == "notifications:delivery" and param in {"pk", "delivery_pk"}:  # a pair: an attempt of its
            from notifications.models import Delivery  # subscription (the log names the subscription as text)

            shown = Delivery.objects.filter(project_id=self.project.pk, destination__startswith="subscription:")
            return [d.destination_id if param == "pk" else d.pk for d in shown.order_by("-pk")[:1]]
        if route.name == "projects:audit_stream_delivery" and param == "delivery_pk":  # an attempt of the project's stream
            from outbound.models import Delivery as LoggedDelivery

            streamed = LoggedDelivery.objects.filter(project_id=self.project.pk, destination__startswith="audit_stream:")
            return list(streamed.order_by("-pk").values_list("pk", flat=True)[:1])
        if param == "app_label":
            return list(sorted(config.label for config in apps.get_app_configs()))
        wanted = words(route.name) | words(param.removesuffix("_id"))
        scored: list[tuple[int, int, object]] = []
        for model_words, fields in self.candidates:
            for field_name, value in fields.items():
                if converter == "IntConverter" and not isinstance(value, int):
                    continue
                exact = field_name == param
                score = (2 if exact else 0) + len(model_words & wanted)
                if exact or (param in {"pk", "id"} or param.endswith("_id") or param.endswith("_pk")) and field_name == "pk":
                    scored.append((-score, len(scored), value))
        values = []
        for _, _, value in sorted(scored):
            if value not in values:
                values.append(value)
        return values[:12] or ["x"]


def build_world() -> World:
    call_command("demo_data", stdout=io.StringIO())
    project = Project.objects.get(slug="acme-api")
    users = {name: User.objects.get(username=name) for name in SIGNED_IN_ROLES}
    assert Membership.objects.filter(project=project, user=users["editor"], role=Role.EDITOR).exists()
    world = World(project, users)
    for model in apps.get_models():
        if model._meta.app_label in {"contenttypes", "sessions", "admin", "auth"} and model is not User:
            continue
        if model._meta.proxy:  # its rows are its concrete model's, already listed
            continue
        rows = model._default_manager.all()
        if any(f.name == "project" for f in model._meta.get_fields()):
            rows = rows.filter(project=project)
        # Text identifiers a URL may carry: unique text fields and the "<thing>_id" columns.
        unique_text = [f.name for f in model._meta.fields
                       if isinstance(f, models.CharField) and (f.unique or f.name.endswith("_id"))]
        for row in rows.order_by("-pk")[:3]:
            fields = {"pk": row.pk} | {name: getattr(row, name) for name in unique_text}
            named = words(model.__name__) | words(str(model._meta.verbose_name))  # a WorkflowExecution: "workflow run"
            world.candidates.append((named, fields))
    return world


# --- what a page must not contain ------------------------------------------------------------------------------


class PageAudit(HTMLParser):
    CONTROLS = {"input", "select", "textarea"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids: dict[str, int] = {}
        self.controls: list[dict] = []
        self.label_for: set[str] = set()
        self.open_labels = 0
        self.forms: list[dict] = []  # the forms still open, innermost last
        self.problems: list[str] = []
        self.in_script_without_src = False
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if "id" in a:
            self.ids[a["id"]] = self.ids.get(a["id"], 0) + 1
        if "style" in a:
            self.problems.append(f"inline style attribute on <{tag} {a.get('id') or a.get('class') or ''}>")
        handlers = [k for k in a if k.startswith("on")]
        if handlers:
            self.problems.append(f"inline event handler {handlers} on <{tag}>")
        if tag == "style":
            self.problems.append("a <style> element (the CSP allows the stylesheet only)")
        if (tag == "script" and "src" not in a and "nonce" not in a
                and a.get("type", "") not in {"application/json", "application/ld+json"}):
            self.problems.append("an inline <script> without the CSP nonce")
        if tag == "label":
            self.open_labels += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        if tag == "form":
            self.forms.append({"method": a.get("method", "get").lower(), "hx_get": "hx-get" in a, "csrf": False,
                               "params": a.get("hx-params", "*"), "action": a.get("action", "")})
        if tag in self.CONTROLS:
            if a.get("name") == "csrfmiddlewaretoken" and self.forms:
                self.forms[-1]["csrf"] = True
            if tag != "input" or a.get("type", "text").lower() not in LABELLED_INPUT_TYPES_EXEMPT:
                self.controls.append({"tag": tag, "id": a.get("id"), "name": a.get("name"), "inside_label": self.open_labels > 0,
                                      "aria": bool(a.get("aria-label") or a.get("aria-labelledby") or a.get("title"))})
        for attribute in ("href", "hx-get", "src", "action"):
            if attribute in a:
                self.links.append(a[attribute])

    def handle_endtag(self, tag):
        if tag == "label" and self.open_labels:
            self.open_labels -= 1
        if tag == "form" and self.forms:
            form = self.forms.pop()
            sent_by_get = form["method"] != "post" or form["hx_get"]
            # hx-params="a,b" sends only those; "*" (the default) and "not x" send the token along.
            token_sent = form["params"] == "*" or form["params"].startswith("not ") or "csrfmiddlewaretoken" in form["params"]
            if form["csrf"] and sent_by_get and token_sent:
                self.problems.append(f"a GET form ({form['action'] or 'this page'}) sends csrfmiddlewaretoken")

    def findings(self) -> list[str]:
        found = list(self.problems)
        found += [f"id {name!r} is used {count} times" for name, count in self.ids.items() if count > 1]
        for control in self.controls:
            if not (control["inside_label"] or control["aria"] or (control["id"] and control["id"] in self.label_for)):
                found.append(f"<{control['tag']} name={control['name']!r} id={control['id']!r}> has no label")
        found += [f"a link carries the CSRF token: {link[:80]}" for link in self.links if "csrfmiddlewaretoken" in link]
        return found


def page_problems(html: str, *, own_templates: bool = True) -> list[str]:
    problems = []
    if CONFLICT_MARKER.search(html):
        problems.append("a merge-conflict marker")
    if "[invalid name]" in html:
        problems.append("a field labelled '[invalid name]' (a filter without a label)")
    if own_templates and UNRESOLVED in html:
        names = sorted(set(re.findall(UNRESOLVED + r"\[([^\]]*)\]", html)))
        problems.append(f"unresolved template variables: {names}")
    audit = PageAudit()
    audit.feed(html)
    findings = audit.findings()
    if not own_templates:  # Django's admin labels its inline rows by table headers, not <label>s
        findings = [finding for finding in findings if not finding.endswith("has no label")]
    return problems + findings


# --- the access rules ------------------------------------------------------------------------------------------


def allowed_statuses(route: Route, role: str, privileged_status: int) -> set[int]:
    """What the access rules let `role` get; `privileged_status` is what the role the page is for got."""
    if privileged_status == 405:
        return {405, 302, 404} if role == "anonymous" else {405}  # POST-only: answers no GET, reveals nothing
    if route.name in LIVE_STREAMS and privileged_status == 204:
        allowed = allowed_statuses(route, role, 200)  # what the page would give; a stream's "yes" is 204 here
        return {204} | (allowed - {200, 302}) if 200 in allowed else allowed
    kind = route.kind
    if kind == "public":
        return {200, 302}
    if role == "anonymous":
        return {404} if route.name in TOKEN_AUTHENTICATED else {302}
    if kind == "signed-in":
        return {200, 302}
    if kind == "managers":
        return {200, 302} if role in {"manager", "admin"} else {403}
    if kind == "project":
        if route.name in TOKEN_AUTHENTICATED:
            return {200} if role in {"owner", "editor", "viewer"} else {404}
        if role in {"outsider", "manager", "admin"}:
            return {404}
        return {200, 302} if role == "owner" else {200, 302, 403}
    raise AssertionError(kind)


def admin_statuses(route: Route, role: str) -> set[int]:
    if route.name in {"admin:login", "admin:logout"}:
        return {200, 302, 405}
    # Staff get the page, or 403 where the admin is read-only on purpose (no adding audit entries by hand).
    return {200, 302, 403, 405} if role == "admin" else {302}


PAGE_FOR = {"project": "owner", "managers": "manager", "signed-in": "owner", "public": "anonymous", "admin": "admin"}


def client_as(role: str, world: World) -> Client:
    client = Client()
    if role != "anonymous":
        client.force_login(world.users[role])
    return client


def query_for(route: Route, role: str, world: World) -> str:
    if route.name in TOKEN_AUTHENTICATED and role in world.users:
        return "?token=" + FeedToken.objects.for_user(world.users[role]).token
    return ""


def open_route(route: Route, world: World, client: Client):
    """The URL and response of the first candidate arguments that open the page for the role it is for."""
    choices = [world.values_for(route, p, c) for p, c in zip(route.params, route.converters, strict=True)]
    last: tuple[str, Any] = ("", None)
    for values in islice(product(*choices), 40):
        try:
            url = reverse(route.name, kwargs=dict(zip(route.params, values, strict=True)))
        except NoReverseMatch:  # a value the route's converter or pattern does not take
            continue
        response = client.get(url + query_for(route, PAGE_FOR[route.kind], world))
        last = (url, response)
        if response.status_code != 404:
            return last
    return last


@pytest.fixture
def sweep_settings(settings):
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "OPTIONS": {**settings.TEMPLATES[0]["OPTIONS"],
                                                                 "string_if_invalid": UNRESOLVED + "[%s]"}}]
    settings.DEBUG = False
    return settings


def sweep(world: World, routes) -> list[str]:
    failures = []
    clients = {role: client_as(role, world) for role in ROLES}
    for route in routes:
        page_role = PAGE_FOR[route.kind]
        url, response = open_route(route, world, clients[page_role])
        if response is None:
            failures.append(f"{route.name}: no demo value fits its URL pattern")
            continue
        if response.status_code == 404 and route.name not in TOKEN_AUTHENTICATED:
            failures.append(f"{route.name}: no demo object opens it for {page_role} (404 for every candidate)")
            continue
        privileged = response.status_code
        for role in ROLES if route.kind != "admin" else ["admin", "owner"]:
            got = clients[role].get(url + query_for(route, role, world))
            expected = admin_statuses(route, role) if route.kind == "admin" else allowed_statuses(route, role, privileged)
            if got.status_code not in expected:
                failures.append(f"{route.name} as {role}: {got.status_code}, expected {sorted(expected)} ({url})")
            if got.status_code == 200 and got.get("Content-Type", "").startswith("text/html"):
                failures.extend(f"{route.name} as {role} ({url}): {problem}"
                                for problem in page_problems(got.content.decode(), own_templates=route.kind != "admin"))
    return failures


def test_routes_are_found_from_the_urlconf():
    names = {route.name for route in ROUTES}
    assert {"events:feed", "monitoring:overview", "projects:settings", "notifications:subscriptions"} <= names
    assert any(route.kind == "admin" for route in ROUTES)


@pytest.mark.django_db
def test_every_page_as_every_role_answers_by_the_access_rules_and_renders_clean(sweep_settings):
    world = build_world()
    failures = sweep(world, [route for route in ROUTES if route.kind not in {"admin", "api"}])
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures)


@pytest.mark.django_db
def test_every_admin_page_answers_staff_only_and_renders_clean(sweep_settings):
    world = build_world()
    failures = sweep(world, [route for route in ROUTES if route.kind == "admin"])
    assert not failures, f"{len(failures)} problems:\n" + "\n".join(failures)


# --- the sweep's own checks catch what they promise ----------------------------------------------------------


@pytest.mark.parametrize(("html", "problem"), [
    ("<p>ok</p>\n<<<<<<< HEAD\n<p>a</p>\n=======\n<p>b</p>\n>>>>>>> branch\n", "merge-conflict marker"),
    (f"<p>{UNRESOLVED}[project.nmae]</p>", "unresolved template variables: ['project.nmae']"),
    ("<label>[invalid name]:</label>", "'[invalid name]'"),
    ('<div id="x"></div><span id="x"></span>', "id 'x' is used 2 times"),
    ('<form method="post"><input name="q" id="q"></form>', "has no label"),
    ('<form><input type="hidden" name="csrfmiddlewaretoken" value="t"><label for="c">C</label><input id="c" name="c"></form>',
     "sends csrfmiddlewaretoken"),
    ('<form method="post" hx-get="/preview/"><input type="hidden" name="csrfmiddlewaretoken" value="t"></form>',
     "sends csrfmiddlewaretoken"),
    ('<a href="/x/?csrfmiddlewaretoken=abc">x</a>', "carries the CSRF token"),
    ('<p style="color: red">x</p>', "inline style attribute"),
    ("<script>alert(1)</script>", "inline <script> without the CSP nonce"),
    ('<button onclick="go()">x</button>', "inline event handler"),
])
def test_the_page_checks_catch_each_planted_fault(html, problem):
    assert any(problem in found for found in page_problems(html)), page_problems(html)


def test_a_clean_page_has_no_findings():
    html = ('<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="t">'
            '<label for="n">Name</label><input id="n" name="n"><label>Role <select name="r"></select></label>'
            '<input aria-label="Search" name="q"><button type="submit">Save</button></form>'
            '<script src="/static/app.js" nonce="abc"></script><p>===== not a marker</p>'
            '<form method="post" hx-get="/preview/" hx-params="cron_expression,timezone">'
            '<input type="hidden" name="csrfmiddlewaretoken" value="t"></form>')
    assert page_problems(html) == []
