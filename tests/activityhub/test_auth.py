import pytest
from django.core.cache import cache
from django.test import override_settings
from django.urls import reverse


@pytest.fixture(autouse=True)
def clear_cache():
    cache.clear()
    yield
    cache.clear()


def test_every_page_requires_login(client, db):
    for url in ["/", "/projects/", "/bookmarks/", "/monitoring/"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=")


def test_login_page_is_public_and_styled(client, db):
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"Sign in to ActivityHub" in response.content
    assert b"css/app.css" in response.content


def test_login_with_right_password(client, owner):
    response = client.post(reverse("login"), {"username": "olivia", "password": "pw-olivia"})
    assert response.status_code == 302
    assert response["Location"] == "/"


def test_wrong_password_says_so(client, owner):
    response = client.post(reverse("login"), {"username": "olivia", "password": "nope"})
    assert response.status_code == 200
    assert b"correct username and password" in response.content


def _sign_in(client, username, password, ip="203.0.113.5", path="/login/", **extra):
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=ip, **extra)


@override_settings(AXES_FAILURE_LIMIT=3)
def test_failed_sign_ins_lock_that_username_from_that_address(client, owner):
    for _ in range(3):
        _sign_in(client, "olivia", "nope")
    response = _sign_in(client, "olivia", "pw-olivia")
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert b"Too many failed sign-in attempts" in response.content
    assert "_auth_user_id" not in client.session


@override_settings(AXES_FAILURE_LIMIT=3)
def test_admin_login_is_throttled_too(client, staff):
    for _ in range(3):
        _sign_in(client, "ada", "nope", path="/admin/login/")
    response = _sign_in(client, "ada", "pw-ada", path="/admin/login/")
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


@override_settings(AXES_FAILURE_LIMIT=3)
def test_failures_on_made_up_usernames_never_lock_out_a_real_user(client, owner):
    for i in range(20):
        _sign_in(client, f"made-up-{i}", "x")
    for _ in range(5):
        _sign_in(client, "OLIVIA", "x")  # usernames are case-sensitive: another made-up name
    response = _sign_in(client, "olivia", "pw-olivia")
    assert response.status_code == 302
    assert client.session["_auth_user_id"] == str(owner.pk)


@override_settings(AXES_FAILURE_LIMIT=3)
def test_an_attacker_guessing_a_real_username_does_not_lock_the_user_out_elsewhere(client, owner):
    for _ in range(10):
        _sign_in(client, "olivia", "guess", ip="198.51.100.66")
    assert _sign_in(client, "olivia", "pw-olivia", ip="198.51.100.66").status_code == 429
    response = _sign_in(client, "olivia", "pw-olivia", ip="203.0.113.5")
    assert response.status_code == 302


@override_settings(AXES_FAILURE_LIMIT=3, TRUSTED_PROXY_COUNT=1)
def test_behind_a_proxy_the_client_address_comes_from_x_forwarded_for(client, owner):
    # Every request arrives from the proxy (10.0.0.1); the attacker forges an extra entry on the left.
    for _ in range(3):
        _sign_in(client, "olivia", "x", ip="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5, 198.51.100.66")
    locked = _sign_in(client, "olivia", "pw-olivia", ip="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.66")
    assert locked.status_code == 429  # the forged left entry changed nothing: the attacker is still locked
    response = _sign_in(client, "olivia", "pw-olivia", ip="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert response.status_code == 302  # the real user, behind the same proxy, signs in


@override_settings(TRUSTED_PROXY_COUNT=1)
def test_a_junk_forwarded_address_falls_back_to_the_proxy_address(client, owner):
    response = _sign_in(client, "olivia", "x", ip="10.0.0.1", HTTP_X_FORWARDED_FOR="not-an-address")
    assert response.status_code == 200  # the form again, not a 500 from storing "not-an-address"


@override_settings(AXES_FAILURE_LIMIT=3)
def test_failure_counts_live_in_the_database_shared_by_every_worker(client, owner):
    from axes.models import AccessAttempt

    for _ in range(3):
        _sign_in(client, "olivia", "nope")
    cache.clear()  # another worker has its own memory; the database still says locked
    attempt = AccessAttempt.objects.get(username="olivia", ip_address="203.0.113.5")
    assert attempt.failures_since_start == 3
    assert _sign_in(client, "olivia", "pw-olivia").status_code == 429


@override_settings(AXES_FAILURE_LIMIT=3)
def test_a_successful_sign_in_resets_the_count(client, owner):
    for _ in range(2):
        _sign_in(client, "olivia", "nope")
    assert _sign_in(client, "olivia", "pw-olivia").status_code == 302
    client.post(reverse("logout"))
    for _ in range(2):
        _sign_in(client, "olivia", "nope")
    assert _sign_in(client, "olivia", "pw-olivia").status_code == 302


def test_logout_is_a_post(client_for, owner):
    client = client_for(owner)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_pages_carry_a_nonced_csp(client_for, owner):
    response = client_for(owner).get("/")
    policy = response["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy
    nonce = policy.split("'nonce-")[1].split("'")[0]
    assert f'nonce="{nonce}"'.encode() in response.content  # the htmx script tag carries it
    assert b"X-CSRFToken" in response.content
