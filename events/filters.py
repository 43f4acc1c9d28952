"""FilterSets for the activity feed and the audit log (also used by the HTTP API and the exports).

    f = ActivityEventFilter(request.GET, queryset=ActivityEvent.objects.for_project(p), project=p)
    if not f.is_valid(): → 400 with f.errors
    f.qs  # the filtered queryset (unordered; paginate_keyset orders it)

Every filter maps to a QuerySet method served by an index: type → (project, event_type, created_at, id);
status / user / entity type / dates ride the (project, created_at, id) range; q → the GIN full-text index on
PostgreSQL.
"""

import copy
from datetime import date, datetime, time, timedelta

import django_filters
from django import forms
from django.contrib.auth import get_user_model
from django.utils import timezone

from lib.vocabulary import ACTION_WORDS, CANONICAL, accepted_words, canonical_status, table_word

from .models.activity import (
    ActionSource,
    ActionStatus,
    ActionType,
    ActivityEvent,
    EventCategory,
    EventStatus,
    EventType,
    ProjectAction,
    audit_label,
)

MAX_QUERY_LENGTH = 200
# The days a since/until filter may name (the API's query schema uses the same bounds). Beyond them the
# day arithmetic overflows (9999-12-31 + 1 day) and no event can match anyway.
EARLIEST_DAY = date(1970, 1, 1)
LATEST_DAY = date(2999, 12, 31)


def _check_day_in_range(value):
    if value is not None and not EARLIEST_DAY <= value <= LATEST_DAY:
        raise forms.ValidationError(
            f"Pick a day between {EARLIEST_DAY.isoformat()} and {LATEST_DAY.isoformat()}.", code="out_of_range"
        )


def day_filter(label):
    """A since/until filter: a whole day, bounded to EARLIEST_DAY..LATEST_DAY (a 400 beyond, never a 500)."""
    method = "filter_since" if label == "From" else "filter_until"
    widget = forms.DateInput(attrs={"type": "date", "min": EARLIEST_DAY.isoformat(), "max": LATEST_DAY.isoformat()})
    return django_filters.DateFilter(method=method, label=label, widget=widget, validators=[_check_day_in_range])


def _day_start(day):
    return timezone.make_aware(datetime.combine(day, time.min))


def _members_of(project):
    users = get_user_model().objects.order_by("username")
    if project is None:
        return users.filter(memberships__isnull=False).distinct()
    return users.filter(memberships__project=project)


class DateRangeMixin:
    """`since` / `until` are whole days in the site's time zone; `until` includes its whole day."""

    def filter_since(self, queryset, name, value):
        return queryset.filter(created_at__gte=_day_start(value))

    def filter_until(self, queryset, name, value):
        return queryset.filter(created_at__lt=_day_start(value + timedelta(days=1)))



class DateRangeForm(forms.Form):
    def clean(self):
        super().clean()
        cleaned = self.cleaned_data
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end date must be on or after the start date.")
        return cleaned


class _StatusWordsField(django_filters.fields.MultipleChoiceField):
    """?status= in the API's words, their aliases or the table's own, in any letter case (lib/vocabulary.py)."""

    def __init__(self, *args, to_word, **kwargs):
        self.to_word = to_word
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        return [self.to_word(word) for word in super().to_python(value)]


class StatusWordsFilter(django_filters.MultipleChoiceFilter):
    """A status filter that reads the one vocabulary; an unknown word is an error naming the accepted ones."""

    field_class = _StatusWordsField

    def __init__(self, *args, words: dict | None = None, **kwargs):
        allowed = list(words) if words else [word for word in CANONICAL if word in dict(kwargs["choices"])]
        kwargs["to_word"] = (lambda value: table_word(value, words)) if words else canonical_status
        kwargs.setdefault("error_messages", {"invalid_choice": f"“%(value)s” is not a status word here: use "
                                                                f"{accepted_words(allowed)}, in any letter case."})
        super().__init__(*args, **kwargs)


class _SharedConfigFilters(dict):
    """A FilterSet's base filters whose per-instance copies share their configuration (choices, widgets, validators).

    django-filter deep-copies every filter for every FilterSet, so that an instance may change its own: ~0.25 ms a
    page for the activity filters, most of it copying the choices and widgets in `extra`, which are read only when
    the form class is built (once per process, get_form_class). A shallow copy keeps what an instance sets (its
    model, parent, the user filter's queryset) its own; `extra` is copied one level so that a key set there is too.
    """

    def __deepcopy__(self, memo):
        return {name: _filter_copy(filter_) for name, filter_ in self.items()}


def _filter_copy(filter_):
    clone = copy.copy(filter_)
    clone.extra = filter_.extra.copy()
    if filter_.method is not None:
        clone.method = filter_.method  # its FilterMethod bound to the copy, which gets the instance as parent
    return clone


class _SharedChoicesFields(dict):
    """A prepared form class's base fields whose per-form copies share their choices lists.

    Django copies every field for every form (`copy.deepcopy(base_fields)`), a choice field's choices included:
    ~0.1 ms for the activity form. The choices here are fixed per process and no form changes them in place
    (assigning `choices` or a queryset replaces them on the copy); the rest of each copy is Django's own.
    The user field's queryset is shared until `ActivityEventFilter.form` assigns the project's members to it.
    """

    def __deepcopy__(self, memo):
        return {name: _field_copy(field, memo) for name, field in self.items()}


def _field_copy(field, memo):
    # ChoiceField's own copy deep-copies the choices; ModelChoiceField's clones its queryset, which the filterset's
    # `form` replaces with the project's members at once.
    return forms.Field.__deepcopy__(field, memo) if isinstance(field, forms.ChoiceField) else copy.deepcopy(field, memo)


class ActivityEventFilter(DateRangeMixin, django_filters.FilterSet):
    type = django_filters.MultipleChoiceFilter(
        choices=EventType.choices, method="filter_type", label="Type",
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    category = django_filters.ChoiceFilter(
        choices=EventCategory.choices, method="filter_category", label="Category", empty_label="Any category"
    )
    status = StatusWordsFilter(
        choices=EventStatus.choices, method="filter_status", label="Status",
        widget=forms.CheckboxSelectMultiple,
    )
    user = django_filters.ModelChoiceFilter(
        queryset=get_user_model().objects.none(), to_field_name="username", label="User", empty_label="Anyone"
    )
    entity_type = django_filters.CharFilter(field_name="entity_type", label="Entity type", max_length=64)
    since = day_filter("From")
    until = day_filter("To")
    q = django_filters.CharFilter(
        method="filter_q", label="Search", max_length=MAX_QUERY_LENGTH,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Search titles and descriptions"}),
    )

    class Meta:
        model = ActivityEvent
        fields = ["type", "category", "status", "user", "entity_type", "since", "until", "q"]
        form = DateRangeForm

    def __init__(self, data=None, queryset=None, *, project=None, **kwargs):
        self.project = project
        super().__init__(data, queryset=queryset, **kwargs)
        self.filters["user"].queryset = _members_of(project)

    _prepared_form = None  # the form class, once per process (get_form_class)

    def get_form_class(self):
        # Built once per process, not on every page: each form still gets its own copies of the fields (Django
        # copies base_fields per form) and `form` below gives the user field this project's members.
        cls = type(self)
        if cls.__dict__.get("_prepared_form") is None:
            prepared = super().get_form_class()
            prepared.base_fields = _SharedChoicesFields(prepared.base_fields)
            cls._prepared_form = prepared
        return cls._prepared_form

    @property
    def form(self):
        if not hasattr(self, "_form"):
            form = super().form
            form.fields["user"].queryset = self.filters["user"].queryset
        return self._form

    def filter_type(self, queryset, name, value):
        return queryset.of_type(*value) if value else queryset

    def filter_category(self, queryset, name, value):
        return queryset.in_category(value) if value else queryset

    def filter_status(self, queryset, name, value):
        if not value:
            return queryset
        return queryset.filter(status=value[0]) if len(value) == 1 else queryset.filter(status__in=value)

    def filter_q(self, queryset, name, value):
        return queryset.search(value)

    @property
    def is_filtered(self):
        return self.is_bound and any(v not in (None, "", [], ()) for v in self.form.cleaned_data.values())


ActivityEventFilter.base_filters = _SharedConfigFilters(ActivityEventFilter.base_filters)


class ProjectActionFilter(DateRangeMixin, django_filters.FilterSet):
    action_type = django_filters.MultipleChoiceFilter(
        choices=ActionType.choices, method="filter_action_type", label="Action",
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    status = StatusWordsFilter(
        choices=ActionStatus.choices, method="filter_status", label="Status", widget=forms.CheckboxSelectMultiple,
        words=ACTION_WORDS,
    )
    environment = django_filters.ChoiceFilter(
        choices=[("development", "development"), ("production", "production")], label="Environment",
        empty_label="Any environment",
    )
    user = django_filters.ModelChoiceFilter(
        queryset=get_user_model().objects.none(), to_field_name="username", label="User", empty_label="Anyone"
    )
    source = django_filters.ChoiceFilter(
        choices=ActionSource.choices, label="Recorded", empty_label="Witnessed and reported",
    )
    actor = django_filters.CharFilter(
        method="filter_actor", label="Actor", max_length=MAX_QUERY_LENGTH,
        widget=forms.TextInput(attrs={"placeholder": "A member, an API key's name or prefix"}),
    )
    since = day_filter("From")
    until = day_filter("To")
    q = django_filters.CharFilter(
        method="filter_q", label="Search", max_length=MAX_QUERY_LENGTH,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Search details"}),
    )

    class Meta:
        model = ProjectAction
        fields = ["action_type", "status", "environment", "user", "source", "actor", "since", "until", "q"]
        form = DateRangeForm

    def __init__(self, data=None, queryset=None, *, project=None, **kwargs):
        self.project = project
        super().__init__(data, queryset=queryset, **kwargs)
        self.filters["user"].queryset = _members_of(project)
        # The column is free text ("room for more" types): offer the project's own types beside the eight built-in ones.
        known = dict(ActionType.choices)
        environments = {"development", "production"}
        if project is not None:
            mine = ProjectAction.objects.for_project(project).order_by()
            for action_type in mine.values_list("action_type", flat=True).distinct()[:100]:
                known.setdefault(action_type, audit_label(action_type))
            environments.update(mine.values_list("environment", flat=True).distinct()[:20])
        self.filters["action_type"].extra["choices"] = sorted(known.items(), key=lambda kv: kv[1])
        self.filters["environment"].extra["choices"] = [(e, e) for e in sorted(environments)]

    def filter_action_type(self, queryset, name, value):
        return queryset.of_type(*value) if value else queryset

    def filter_actor(self, queryset, name, value):
        return queryset.by_actor(value)

    def filter_status(self, queryset, name, value):
        return queryset.filter(status__in=value) if value else queryset

    def filter_q(self, queryset, name, value):
        return queryset.search(value)

    @property
    def is_filtered(self):
        return self.is_bound and any(v not in (None, "", [], ()) for v in self.form.cleaned_data.values())


def filter_errors(filterset) -> dict[str, list[str]]:
    """{field: [messages]} for a 400 answer (HTML or API)."""
    return {field: [str(e) for e in errors] for field, errors in filterset.form.errors.items()}
