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


def test_unexpected_error_is_an_italian_page(app, client, auth):
    """A crash answers 500 with the styled page in Italian, not Werkzeug's English one."""

    @app.route("/_boom")
    def boom():
        """Fail on purpose."""
        raise RuntimeError("boom")

    app.config["PROPAGATE_EXCEPTIONS"] = False  # as in production: the handler answers
    auth.login("admin")
    response = client.get("/_boom")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Errore interno" in page and "Torna al cruscotto" in page
    assert "Internal Server Error" not in page
