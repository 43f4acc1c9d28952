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


@override_settings(LOGIN_RATE_LIMIT=3)
def test_login_attempts_are_rate_limited_per_username(client, owner):
    for _ in range(3):
        client.post(reverse("login"), {"username": "olivia", "password": "nope"}, REMOTE_ADDR="10.0.0.1")
    # A fourth attempt, even from another address and with the right password, is refused for now.
    response = client.post(reverse("login"), {"username": "OLIVIA", "password": "pw-olivia"}, REMOTE_ADDR="10.0.0.2")
    assert response.status_code == 429
    assert response["Retry-After"] == "60"
    assert b"Too many sign-in attempts" in response.content
    assert "_auth_user_id" not in client.session


@override_settings(LOGIN_RATE_LIMIT=3)
def test_login_attempts_are_rate_limited_per_ip(client, owner):
    for name in ["a", "b", "c"]:
        client.post(reverse("login"), {"username": name, "password": "x"}, REMOTE_ADDR="10.0.0.9")
    response = client.post(reverse("login"), {"username": "olivia", "password": "pw-olivia"}, REMOTE_ADDR="10.0.0.9")
    assert response.status_code == 429


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
