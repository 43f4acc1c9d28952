import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from projects.models import Membership, Project, Role


def test_owner_adds_member_with_htmx_fragment(client_for, project, owner, outsider):
    response = client_for(owner).post(
        reverse("projects:member_add", args=[project.slug]),
        {"username": outsider.username, "role": "editor"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert b'id="members"' in response.content
    assert b"<html" not in response.content  # a fragment, not the page
    assert Membership.objects.get(project=project, user=outsider).role == Role.EDITOR


def test_adding_by_email_works_and_plain_post_redirects(client_for, project, owner, outsider):
    response = client_for(owner).post(
        reverse("projects:member_add", args=[project.slug]), {"username": outsider.email, "role": "viewer"}
    )
    assert response.status_code == 302
    assert Membership.objects.filter(project=project, user=outsider, role=Role.VIEWER).exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [({"username": "nobody", "role": "viewer"}, b"No user"), ({"username": "vera", "role": "viewer"}, b"already a member"),
     ({"username": "oscar", "role": "emperor"}, b"Select a valid choice")],
)
def test_adding_bad_member_says_why(client_for, project, owner, outsider, data, message):
    response = client_for(owner).post(reverse("projects:member_add", args=[project.slug]), data)
    assert response.status_code == 422
    assert message in response.content
    assert project.memberships.count() == 3


def test_owner_changes_role_inline(client_for, project, owner, viewer):
    target = Membership.objects.get(project=project, user=viewer)
    response = client_for(owner).post(
        reverse("projects:member_role", args=[project.slug, target.pk]), {"role": "editor"}, headers={"HX-Request": "true"}
    )
    assert response.status_code == 200
    target.refresh_from_db()
    assert target.role == Role.EDITOR


def test_last_owner_cannot_be_demoted_or_removed(client_for, project, owner):
    mine = Membership.objects.get(project=project, user=owner)
    client = client_for(owner)
    response = client.post(reverse("projects:member_role", args=[project.slug, mine.pk]), {"role": "viewer"}, headers={"HX-Request": "true"})
    assert response.status_code == 409
    assert b"at least one owner" in response.content
    response = client.post(reverse("projects:member_remove", args=[project.slug, mine.pk]), headers={"HX-Request": "true"})
    assert response.status_code == 409
    mine.refresh_from_db()
    assert mine.role == Role.OWNER


def test_owner_can_step_down_when_another_owner_exists(client_for, project, owner, editor):
    Membership.objects.filter(project=project, user=editor).update(role=Role.OWNER)
    mine = Membership.objects.get(project=project, user=owner)
    response = client_for(owner).post(reverse("projects:member_role", args=[project.slug, mine.pk]), {"role": "viewer"})
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.role == Role.VIEWER


def test_remove_member(client_for, project, owner, viewer):
    target = Membership.objects.get(project=project, user=viewer)
    response = client_for(owner).post(reverse("projects:member_remove", args=[project.slug, target.pk]))
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=target.pk).exists()


def test_member_of_another_project_is_404(client_for, project, owner):
    other = Project.objects.create(name="Other", slug="other")
    stranger = User.objects.create_user("stranger")
    theirs = Membership.objects.create(project=other, user=stranger, role=Role.OWNER)
    response = client_for(owner).post(reverse("projects:member_remove", args=[project.slug, theirs.pk]))
    assert response.status_code == 404
    assert Membership.objects.filter(pk=theirs.pk).exists()


def test_any_user_creates_a_project_and_owns_it(client_for, outsider):
    response = client_for(outsider).post(reverse("projects:list"), {"name": "Fresh Start", "slug": "", "description": ""})
    project = Project.objects.get(slug="fresh-start")
    assert response.status_code == 302
    assert response["Location"] == project.get_absolute_url()
    assert Membership.objects.get(project=project, user=outsider).role == Role.OWNER
    assert project.created_by == outsider


def test_duplicate_slug_is_rejected(client_for, project, outsider):
    response = client_for(outsider).post(reverse("projects:list"), {"name": "Acme API", "slug": "acme-api"})
    assert response.status_code == 400
    assert b"is taken" in response.content
    assert Project.objects.filter(slug="acme-api").count() == 1


def test_deleting_a_project_removes_memberships_in_the_database(project):
    project_id = project.pk
    project.delete()
    assert not Membership.objects.filter(project_id=project_id).exists()


def test_a_long_name_gets_a_shortened_slug_instead_of_an_error(client_for, outsider):
    name = "Platform reliability and incident response automation for the payments and settlements group"  # 93 chars
    response = client_for(outsider).post(reverse("projects:list"), {"name": name, "slug": ""})
    assert response.status_code == 302
    project = Project.objects.get(name=name)
    assert len(project.slug) <= 80
    assert project.slug == "platform-reliability-and-incident-response-automation-for-the-payments-and"
