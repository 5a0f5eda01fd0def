"""First checks that the skeleton stands: login, dashboard, healthz."""


def test_login_then_dashboard(client, auth):
    """An admin logs in and sees the dashboard."""
    auth.login("admin")
    response = client.get("/")
    assert response.status_code == 200
    assert "Cruscotto" in response.get_data(as_text=True)


def test_dashboard_needs_login(client):
    """Anonymous users are sent to the login form."""
    response = client.get("/")
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]
