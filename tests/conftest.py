"""Fixtures named for their role in a project: owner, editor, viewer, outsider, manager."""

import os

import pytest
from django.contrib.auth.models import Group, User

from projects.models import Membership, Project, Role
from tests.clock import travel_if_asked

# Sync Playwright runs an event loop in the test thread; Django must still allow its ORM there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_configure(config):
    # TEST_CLOCK_AHEAD_DAYS=400 (CI's second run): every test process believes it is that much later.
    travel_if_asked()


def pytest_report_header(config):
    from datetime import UTC, datetime

    from tests.clock import days_ahead

    return f"test clock: {days_ahead()} days ahead, it is {datetime.now(UTC):%Y-%m-%d %H:%M} UTC for the tests" if days_ahead() else None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    """No test leaves rows behind: after a test that used the database, the users, projects and events it made are
    gone (rolled back or flushed). A test whose writes escaped its transaction fails here, at its own teardown,
    instead of turning a later test red on another worker."""
    result = yield
    if nextitem is None or item.get_closest_marker("django_db") is None and not (
            {"db", "transactional_db", "live_server"} & set(getattr(item, "fixturenames", ()))):
        return result
    from pytest_django.plugin import blocking_manager_key

    from events.models import ActivityEvent

    with item.config.stash[blocking_manager_key].unblock():
        left = {"users": User.objects.count(), "projects": Project.objects.count(),
                "events": ActivityEvent.objects.count()}
    if any(left.values()):
        raise AssertionError(f"{item.nodeid} left rows behind in the test database: {left}")
    return result


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    # The production hasher is slow on purpose; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_notification_rules():
    # Each process caches whether a project has notification rules; project ids repeat between tests.
    from notifications.receivers import forget_rules

    forget_rules()
    yield
    forget_rules()


@pytest.fixture(autouse=True)
def fresh_partition_lists():
    # Each process caches the partition list and "no row from the future" (events/partitions.py); a test's
    # partitions and rows are rolled back after it, the cache would outlive them.
    from events.partitions import forget_partitions

    forget_partitions()
    yield
    forget_partitions()


def make_user(username, **extra):
    return User.objects.create_user(username=username, password="pw-" + username, email=f"{username}@example.com", **extra)


@pytest.fixture
def owner(db):
    return make_user("olivia")


@pytest.fixture
def editor(db):
    return make_user("eddie")


@pytest.fixture
def viewer(db):
    return make_user("vera")


@pytest.fixture
def outsider(db):
    return make_user("oscar")


@pytest.fixture
def manager(db):
    user = make_user("maya")
    user.groups.add(Group.objects.get_or_create(name="managers")[0])
    return user


@pytest.fixture
def staff(db):
    return make_user("ada", is_staff=True, is_superuser=True)


@pytest.fixture
def project(owner, editor, viewer):
    project = Project.objects.create(name="Acme API", slug="acme-api", created_by=owner)
    Membership.objects.create(project=project, user=owner, role=Role.OWNER)
    Membership.objects.create(project=project, user=editor, role=Role.EDITOR)
    Membership.objects.create(project=project, user=viewer, role=Role.VIEWER)
    return project


@pytest.fixture
def client_for(client):
    """client_for(user) → a test client signed in as that user."""

    def login(user):
        client.force_login(user)
        return client

    return login
