"""Forms for the conversation pages: search, feedback, copy usage, and the quality page's sort order."""

from django import forms

from .models.messages import CopyUsage, Feedback, NeedMoreReason


class ConversationSearchForm(forms.Form):
    q = forms.CharField(label="Search conversations", required=False, max_length=200)
    page = forms.IntegerField(required=False, min_value=1)


class FeedbackForm(forms.Form):
    """helpful / not_helpful, or need_more with reasons and the "specific situation" text."""

    feedback = forms.ChoiceField(choices=Feedback.choices)
    needs_more = forms.MultipleChoiceField(
        label="What would help?", choices=NeedMoreReason.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    specific_situation = forms.CharField(
        label="Your specific situation", required=False, max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2, "placeholder": "Optional: what are you trying to do?"}),
    )

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if data.get("feedback") == Feedback.NEED_MORE and not data.get("needs_more") and not data.get("specific_situation", "").strip():
            raise forms.ValidationError("Tick what would help (scripts, examples, steps, case study) or describe your situation.")
        return data


class CopyUsageForm(forms.Form):
    usage = forms.ChoiceField(label="How will you use it?", choices=CopyUsage.choices, widget=forms.RadioSelect)
    context = forms.CharField(label="Anything to add?", required=False, max_length=500)


class CopiedForm(forms.Form):
    """`?copied=<event id>` after a copy without JavaScript: which copy event to ask about."""

    copied = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)


CHUNK_SORTS = [
    ("chunk_id", "Chunk"),
    ("times_used", "Used"),
    ("helpful_count", "Helpful"),
    ("not_helpful_count", "Not helpful"),
    ("needs_scripts_count", "Scripts"),
    ("needs_examples_count", "Examples"),
    ("needs_steps_count", "Steps"),
    ("needs_case_study_count", "Case study"),
    ("copy_to_use_now_count", "Copied to use now"),
    ("satisfaction_rate", "Satisfaction"),
]


class ChunkSortForm(forms.Form):
    sort = forms.ChoiceField(
        required=False,
        choices=[(f"{prefix}{name}", label) for name, label in CHUNK_SORTS for prefix in ("", "-")],
    )
    page = forms.IntegerField(required=False, min_value=1)

    DEFAULT = "-times_used"

    def sort_order(self):
        return (self.is_valid() and self.cleaned_data.get("sort")) or self.DEFAULT
