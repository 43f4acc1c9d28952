"""Property: no query string makes any page, export, admin list or API read answer a 5xx.

Beside the schemathesis run (tests/activityhub/test_api_fuzz.py, request bodies), hypothesis sends every GET page its own
query parameters (read from its forms, filters, admin options and the OpenAPI document) with hostile values:
far-away dates, huge and negative numbers, NUL, long text, floats that overflow. Derandomized with a bounded
number of examples, so CI sends the same few hundred requests every time in well under a minute.
"""

from datetime import timedelta

import pytest
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from activityhub.api import api
from activityhub.health import HealthForm
from events.conversation_forms import ChunkSortForm, ConversationSearchForm, CopiedForm
from events.filters import ActivityEventFilter, ProjectActionFilter
from events.models import ActivityEvent, Conversation, Message, ProjectAction
from events.views.activity import InsightsForm, PageParams
from monitoring.models import HealthCheck as HealthCheckConfig
from monitoring.models import NotificationLog, WorkflowExecution, WorkflowSchedule
from monitoring.reports import build_report
from monitoring.runs import finish_run, start_run
from monitoring.views import NotificationFilter
from notifications.models import Delivery as NotificationDelivery
from notifications.models import Subscription
from notifications.sending import destination_fields
from projects.models import ApiKey, Membership, Role

EXAMPLES = 300

EDGE_VALUES = [
    "", " ", "0", "-1", "1", "2", "99999", "-99999", "9223372036854775808", "1e400", "-1e400", "nan", "inf",
    "9999-12-31", "0001-01-01", "10000-01-01", "2026-02-30", "1970-01-01", "2999-12-31", "9999", "12", "31",
    "\x00", "a\x00b", "%00", "null", "[]", "{}", "true", "' OR 1=1 --", "<script>", "../../etc/passwd",
    "x" * 5000, "é✓😀", "\u202e", "1.2.-3", "-0", "0x10", "1_000", "FAILED", "COMPLETED", "olivia",
]
VALUES = st.one_of(
    st.sampled_from(EDGE_VALUES),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.dates().map(lambda d: d.isoformat()),
    st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40),
)


def _names(form_or_filter):
    fields = getattr(form_or_filter, "base_filters", None) or form_or_filter.base_fields
    return list(fields)


def _admin_targets():
    targets = []
    for model, model_admin in admin.site._registry.items():
        names = ["q", "o", "p", "e", "all", "_popup", "_to_field"]
        if model_admin.date_hierarchy:
            names += [f"{model_admin.date_hierarchy}__{part}" for part in ("year", "month", "day")]
        for item in model_admin.list_filter:
            if isinstance(item, str):
                names += [f"{item}__exact", f"{item}__isnull", f"{item}__gte", f"{item}__in"]
            elif isinstance(item, tuple | list) and isinstance(item[0], str):
                names += [f"{item[0]}__exact"]
            elif isinstance(item, type) and issubclass(item, admin.SimpleListFilter) and item.parameter_name:
                names.append(item.parameter_name)
        targets.append((f"/admin/{model._meta.app_label}/{model._meta.model_name}/", names))
    return targets


def _api_targets(ids):
    targets = []
    for path, operations in api.get_openapi_schema()["paths"].items():
        operation = operations.get("get")
        if operation is None:
            continue
        names = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"] + ["limit", "cursor"]
        targets.append((path.format(**ids), names))
    return targets


@pytest.fixture
def targets(project, staff, owner):
    Membership.objects.create(project=project, user=staff, role=Role.OWNER)
    now = timezone.now()
    event = ActivityEvent.objects.create(project=project, event_type="INDEXING_COMPLETED", status="COMPLETED",
                                         title="Indexed", entity_type="indexing", user=owner)
    ProjectAction.objects.create(project=project, action_type="deployment", action_details="Deployed")
    conversation = Conversation.objects.create(project=project, title="Keys", external_id="c1", user=owner)
    message = Message.objects.create(conversation=conversation, role="assistant", content="Rotate it.")
    start_run(project, run_id="run-1", workflow_name="nightly", started_at=now - timedelta(minutes=5))
    finish_run(project, "run-1", status="FAILED", completed_at=now, error_message="disk full")
    run = WorkflowExecution.objects.get(run_id="run-1")
    WorkflowSchedule.objects.create(project=project, workflow_name="nightly", cron_expression="0 2 * * *")
    check = HealthCheckConfig.objects.create(project=project, check_id="api", check_name="API", url="http://127.0.0.1:9/")
    report = build_report(now - timedelta(days=1), now, notify=False)
    NotificationLog.objects.create(event_type="workflow_failed", channel="slack", target="http://127.0.0.1:9/",
                                   subject="s", text="m", delivery_id="k", delivery_key="k", source="run")
    _, token = ApiKey.objects.create_key(project=project, name="fuzz", scope="read", created_by=owner)
    subscription = Subscription.objects.create(project=project, name="Hook", channel="webhook",
                                               target_url="http://127.0.0.1:9/")
    delivery = NotificationDelivery.objects.create(
        **destination_fields(project, "event", "1", subscription=subscription))

    slug = project.slug
    feed = _names(ActivityEventFilter) + _names(PageParams)
    audit = _names(ProjectActionFilter) + _names(PageParams)
    pages = [
        ("/", []), ("/projects/", []), ("/bookmarks/", ["page"]), ("/login/", ["next"]), ("/healthz", _names(HealthForm)),
        (reverse("projects:console", args=[slug]), []), (reverse("projects:settings", args=[slug]), []),
        (reverse("events:feed", args=[slug]), feed), (reverse("events:feed_export_csv", args=[slug]), feed),
        (reverse("events:feed_export_jsonl", args=[slug]), feed),
        (reverse("events:event_detail", args=[slug, event.pk]), []),
        (reverse("events:insights", args=[slug]), _names(InsightsForm) + _names(ActivityEventFilter)),
        (reverse("events:audit", args=[slug]), audit), (reverse("events:audit_export_csv", args=[slug]), audit),
        (reverse("events:audit_export_jsonl", args=[slug]), audit),
        (reverse("events:conversations", args=[slug]), _names(ConversationSearchForm)),
        (reverse("events:conversation", args=[slug, conversation.pk]), _names(CopiedForm)),
        (reverse("events:quality", args=[slug]), _names(ChunkSortForm)),
        (reverse("monitoring:overview"), ["environment"]), (reverse("monitoring:schedules"), ["page", "environment"]),
        (reverse("monitoring:schedule_edit", args=[WorkflowSchedule.objects.get().schedule_id]),
         ["cron_expression", "timezone"]),
        (reverse("monitoring:health"), ["page", "environment"]),
        (reverse("monitoring:health_detail", args=[check.pk]), ["page"]),
        (reverse("monitoring:health_edit", args=[check.pk]), []),
        (reverse("monitoring:reports"), ["page", "environment"]),
        (reverse("monitoring:report_detail", args=[report.report_id]), ["status", "page"]),
        (reverse("monitoring:run_detail", args=[run.pk]), []), (reverse("monitoring:changes"), ["since"]),
        (reverse("monitoring:notifications"), _names(NotificationFilter) + ["page"]),
        (reverse("notifications:subscriptions", args=[slug]), []),
        (reverse("notifications:subscription", args=[slug, subscription.pk]), ["page"]),
        (reverse("notifications:watch", args=[slug]), ["entity_type", "entity_id"]),
        (reverse("notifications:preferences"), []),
    ]
    ids = {"conversation_id": conversation.pk, "message_id": message.pk, "run_id": "run-1", "event_id": event.pk,
           "schedule_id": WorkflowSchedule.objects.get().schedule_id, "check_id": check.check_id,
           "subscription_id": subscription.pk, "delivery_id": delivery.pk}
    return {"pages": pages + _admin_targets(), "api": _api_targets(ids), "token": token}


def _query(draw, names):
    chosen = draw(st.lists(st.sampled_from(names + ["unknown"]), min_size=0, max_size=4, unique=True))
    return {name: draw(st.lists(VALUES, min_size=1, max_size=2)) for name in chosen}


@st.composite
def requests(draw, targets):
    kind = draw(st.sampled_from(["pages", "pages", "api"]))
    path, names = draw(st.sampled_from(targets[kind]))
    return kind, path, _query(draw, names or ["page"]), draw(st.booleans())


def test_no_query_string_makes_any_page_or_endpoint_answer_a_5xx(client, staff, targets):
    client.force_login(staff)
    headers_for = {"api": {"Authorization": f"Bearer {targets['token']}"}}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(requests(targets))
    def never_a_5xx(request):
        kind, path, query, htmx = request
        headers = dict(headers_for.get(kind, {}))
        if htmx:
            headers["HX-Request"] = "true"
        response = client.get(path, query, headers=headers)
        assert response.status_code < 500, (path, query, htmx, response.status_code)
        if kind == "api":
            assert response["Content-Type"].startswith("application/json"), (path, query)

    never_a_5xx()
