import unicodedata
from urllib.parse import urlsplit

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils.text import slugify

from outbound import validate_outbound_url

from .models import (
    MAX_RETENTION_DAYS,
    MIN_RETENTION_DAYS,
    ApiKey,
    ApiKeyScope,
    AuditStream,
    Membership,
    Project,
    Role,
)


def slug_from_name(name):
    """The name as a slug, cut at a word boundary to fit the slug field."""
    slug = slugify(name)
    limit = Project._meta.get_field("slug").max_length or 50  # 50: SlugField's own default
    if len(slug) <= limit:
        return slug
    cut = slug[: limit + 1].rfind("-")
    return (slug[:cut] if cut > limit // 2 else slug[:limit]).strip("-")


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "slug", "description"]
        help_texts = {"slug": "Used in addresses: lowercase letters, digits and hyphens. Left empty, it is made from the name."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        self.fields["description"].widget.attrs["rows"] = 3

    def clean_slug(self):
        slug = self.cleaned_data.get("slug") or slug_from_name(self.cleaned_data.get("name", ""))
        if not slug:
            raise forms.ValidationError("Give the project a name or a slug made of letters or digits.")
        if Project.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f"The slug “{slug}” is taken; choose another.")
        return slug


class RetentionForm(forms.ModelForm):
    """How long the project's activity is kept (Settings, owners only); the range is the model field's validators."""

    class Meta:
        model = Project
        fields = ["retention_days"]
        labels = {"retention_days": "Keep activity for (days)"}
        error_messages = {
            "retention_days": {
                "min_value": f"Keep activity for at least {MIN_RETENTION_DAYS} day.",
                "max_value": f"Keep activity for at most {MAX_RETENTION_DAYS:,} days (ten years).",
                "invalid": "Enter a whole number of days.",
                "required": "Enter how many days of activity to keep.",
            }
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        field = self.fields["retention_days"]
        field.widget.attrs.update({"min": MIN_RETENTION_DAYS, "max": MAX_RETENTION_DAYS, "inputmode": "numeric"})


class AddMemberForm(forms.Form):
    username = forms.CharField(label="Username or email", max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)

    def __init__(self, *args, project, **kwargs):
        self.project = project
        super().__init__(*args, **kwargs)

    def clean_username(self):
        value = self.cleaned_data["username"].strip()
        User = get_user_model()
        user = User.objects.filter(username__iexact=value).first() or (
            User.objects.filter(email__iexact=value).first() if "@" in value else None
        )
        if user is None:
            raise forms.ValidationError(f"No user “{value}” exists.")
        if Membership.objects.filter(project=self.project, user=user).exists():
            raise forms.ValidationError(f"{user.username} is already a member.")
        self.user = user
        return value


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class ApiKeyForm(forms.ModelForm):
    class Meta:
        model = ApiKey
        fields = ["name", "scope"]
        labels = {"name": "Key name", "scope": "Access"}
        help_texts = {"name": "Say where it will be used, e.g. “CI pipeline” or “indexing worker”."}
        widgets = {"scope": forms.RadioSelect}

    def __init__(self, *args, project, **kwargs):
        self.project = project
        super().__init__(*args, **kwargs)
        self.fields["scope"].initial = ApiKeyScope.READ

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        if not name:
            raise forms.ValidationError("Give the key a name.")
        if self.project.api_keys.active().filter(name__iexact=name).exists():
            raise forms.ValidationError(f"An active key is already named “{name}”; choose another name.")
        return name


class AuditStreamForm(forms.ModelForm):
    """Where the audit trail is streamed (Settings, owners only): an https URL the outbound guard accepts."""

    class Meta:
        model = AuditStream
        fields = ["url"]
        labels = {"url": "Webhook URL"}
        error_messages = {"url": {"invalid": "Enter a full https:// URL, such as https://logs.example.com/activityhub.",
                                  "required": "Enter the URL to stream the audit trail to.",
                                  "max_length": "Keep the URL under 500 characters."}}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["url"].widget.attrs.update({"placeholder": "https://logs.example.com/activityhub", "inputmode": "url"})

    def clean_url(self):
        url = self.cleaned_data["url"].strip()
        if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Zs") for ch in url):
            raise forms.ValidationError("The URL contains spaces or invisible control characters; type it again.")
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise forms.ValidationError("Only http and https URLs can receive the audit stream.")
        # Plain http only where the guard lets the server reach this machine or its network (development, tests).
        if scheme == "http" and not (settings.OUTBOUND_ALLOW_LOOPBACK or settings.OUTBOUND_ALLOW_PRIVATE):
            raise forms.ValidationError("Use an https URL: the audit trail must not travel unencrypted.")
        try:
            validate_outbound_url(url)
        except (UnicodeError, ValueError) as exc:  # a host name IDNA cannot encode
            raise forms.ValidationError("That URL's host name is not valid.") from exc
        return url
