"""Who may do what in the contacts area: login required, roles for viewing, editing, importing."""

import pytest

PAGES = ["/anagrafiche/", "/anagrafiche/coverage", "/anagrafiche/coverage/FATTURA", "/anagrafiche/export.csv"]


@pytest.mark.parametrize("url", [*PAGES, "/anagrafiche/import", "/anagrafiche/functions"])
def test_anonymous_is_sent_to_login(client, url):
    """Every page needs a login."""
    response = client.get(url)
    assert response.status_code == 302
    assert "/auth/login" in response.headers["Location"]


def test_anonymous_post_is_refused(client, world):
    """A state change without a session does not reach the view."""
    response = client.post(f"/anagrafiche/{world['acme']}/contacts", data={"name": "X"})
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


@pytest.mark.parametrize("role", ["operator", "manager", "sales", "admin"])
@pytest.mark.parametrize("url", PAGES)
def test_viewers_see_the_pages(client, auth, world, role, url):
    """Operators, managers, sales and admins can view the list, coverage and export."""
    auth.login(role, clearance=3)
    assert client.get(url).status_code == 200


def test_party_page_visible_to_sales(client, auth, world):
    """Sales can read a party page but gets no edit buttons."""
    auth.login("sales", clearance=3)
    body = client.get(f"/anagrafiche/{world['acme']}").get_data(as_text=True)
    assert "Mario Pubblico" in body
    assert "Aggiungi contatto" not in body and ">Modifica<" not in body


@pytest.mark.parametrize(
    "role, status", [("operator", 200), ("manager", 200), ("admin", 200), ("sales", 403)]
)
def test_edit_form_by_role(client, auth, world, role, status):
    """Only operators, managers and admins get the edit form."""
    auth.login(role, clearance=3)
    response = client.get(f"/anagrafiche/contacts/{world['mario']}/edit", headers={"HX-Request": "true"})
    assert response.status_code == status


@pytest.mark.parametrize(
    "role, status", [("operator", 302), ("manager", 302), ("admin", 302), ("sales", 403)]
)
def test_create_contact_by_role(client, auth, world, role, status):
    """Sales cannot add contacts; the others can."""
    auth.login(role, clearance=3)
    response = client.post(
        f"/anagrafiche/{world['gamma']}/contacts", data={"name": "Nuovo", "privacy_level": "0"}
    )
    assert response.status_code == status


def test_sales_cannot_delete(client, auth, world):
    """Sales gets 403 on delete and the contact stays."""
    auth.login("sales", clearance=3)
    assert client.post(f"/anagrafiche/contacts/{world['mario']}/delete").status_code == 403
    assert "Mario Pubblico" in client.get(f"/anagrafiche/{world['acme']}").get_data(as_text=True)


@pytest.mark.parametrize(
    "role, status", [("operator", 200), ("manager", 200), ("admin", 200), ("sales", 403)]
)
def test_import_page_by_role(client, auth, role, status):
    """Importing is for operators, managers and admins."""
    auth.login(role)
    assert client.get("/anagrafiche/import").status_code == status


@pytest.mark.parametrize(
    "role, status", [("admin", 200), ("operator", 403), ("manager", 403), ("sales", 403)]
)
def test_functions_page_admin_only(client, auth, role, status):
    """Configuring functions is for admins."""
    auth.login(role)
    assert client.get("/anagrafiche/functions").status_code == status


def test_missing_csrf_token_is_refused(client, auth, world):
    """A POST without CSRF token is rejected and writes nothing."""
    auth.login("operator", clearance=3)
    response = client.post(f"/anagrafiche/contacts/{world['mario']}/delete", csrf=False)
    assert response.status_code == 400
    assert "Mario Pubblico" in client.get(f"/anagrafiche/{world['acme']}").get_data(as_text=True)


def test_nav_links_to_list(client, auth):
    """The navigation shows «Anagrafiche» pointing at the list."""
    auth.login("operator")
    assert 'href="/anagrafiche/"' in client.get("/").get_data(as_text=True)
