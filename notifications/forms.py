from typing import cast

from django import forms

from events.models.activity import EventType

from .models import Level, Mode, Preference, Subscription


class SubscriptionForm(forms.ModelForm):
    event_types = forms.MultipleChoiceField(choices=EventType.choices, required=False,
                                            widget=forms.SelectMultiple(attrs={"size": 6}),
                                            help_text="None chosen: any type.")

    class Meta:
        model = Subscription
        fields = ["name", "channel", "target_url", "recipients", "mode", "match_events", "event_types", "category",
                  "event_status", "entity_type", "text_contains", "match_actions", "action_type", "action_status",
                  "environment"]
        labels = {"target_url": "URL", "match_events": "Activity events", "match_actions": "Audit actions",
                  "event_status": "Event status", "action_status": "Action status", "text_contains": "Text contains",
                  "recipients": "Email to"}
        help_texts = {"recipients": "Members of this project (email channel).",
                      "entity_type": "e.g. apr_session; empty: any", "action_type": "e.g. deployment; empty: any",
                      "environment": "e.g. production; empty: any"}

    GROUPS = [
        ("Where and when", ["name", "channel", "target_url", "recipients", "mode"]),
        ("Activity events", ["match_events", "event_types", "category", "event_status", "entity_type", "text_contains"]),
        ("Audit actions", ["match_actions", "action_type", "action_status", "environment"]),
    ]

    def groups(self):
        """[(legend, [bound fields])] for the form's three fieldsets."""
        return [(legend, [self[name] for name in names]) for legend, names in self.GROUPS]

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.instance.project = project
        cast(forms.ModelMultipleChoiceField, self.fields["recipients"]).queryset = member_users(project)
        self.fields["recipients"].required = False
        for name in ("category", "event_status", "action_status"):
            field = cast(forms.ChoiceField, self.fields[name])
            field.choices = [("", "Any"), *cast(list[tuple[str, str]], field.choices)[1:]]  # normalised to a list


def member_users(project):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.filter(memberships__project=project).order_by("username")


class PreferenceForm(forms.ModelForm):
    class Meta:
        model = Preference
        fields = ["level", "mode"]
        labels = {"level": "Tell me about", "mode": "By email"}


__all__ = ["Level", "Mode", "PreferenceForm", "SubscriptionForm", "member_users"]
