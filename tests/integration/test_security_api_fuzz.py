"""The HTTP API fuzzed from its own OpenAPI description (schemathesis), in-process through WSGI.

No network: the schema is read from /api/v1/openapi.json of the test app and every request goes
through the Flask app. Checks: no 5xx, status codes / content types / bodies / headers as described,
invalid bodies rejected. "Valid data accepted" is not checked: a schema-valid document for a party
code that does not exist is rightly refused with 422.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mailer.extensions import db
from mailer.models import API_SCOPES, ApiToken

TOKEN = "rk_fuzz_" + "f" * 32
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
# Invalid bodies must be refused; unknown or malformed query parameters of the lists are ignored on
# purpose (paging falls back to its defaults), so the rejection check applies to bodies only.
BODY_CHECKS = [*CHECKS, negative_data_rejection]


@pytest.fixture
def api_schema(app):
    """The app's OpenAPI schema, bound to the app, with a token of every scope and a little data."""
    from datetime import date

    from mailer.api.routes import hash_token
    from mailer.models import Contact, Document, Party, User

    with app.app_context():
        acting = User(username="fuzz-admin", password_hash="!", roles="admin", privacy_clearance=3)
        db.session.add(acting)
        db.session.flush()
        db.session.add(
            ApiToken(
                name="fuzz",
                token_hash=hash_token(TOKEN),
                prefix=TOKEN[:10],
                scopes=",".join(API_SCOPES),
                privacy_clearance=3,
                user_id=acting.id,
            )
        )
        party = Party(erp_code="C1", name="Cliente Uno S.r.l.", kind="customer")
        db.session.add(party)
        db.session.flush()
        db.session.add(Contact(party_id=party.id, name="Ufficio", email="ufficio@cliente.example"))
        db.session.add(
            Document(type_code="FATTURA", number="1", year=2026, date=date(2026, 1, 2), party_id=party.id)
        )
        db.session.commit()
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


def test_description_covers_every_api_route(app):
    """Every method of every /api/v1 rule (openapi.json and the token pages aside) is described."""
    from mailer.api.openapi import openapi_spec

    described = {
        (path, method.upper()) for path, item in openapi_spec("x")["paths"].items() for method in item
    }
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("api.") and rule.endpoint != "api.openapi":
            path = rule.rule.removeprefix("/api/v1")
            for name in rule.arguments:
                path = __import__("re").sub(
                    rf"<[^>]*\b{name}>",
                    "{" + {"document_id": "id", "type_code": "type"}.get(name, name) + "}",
                    path,
                )
            routed |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert routed == described


def _operations(schema):
    """Every operation of the schema."""
    return [result.ok() for result in schema.get_all_operations()]


# schemathesis' own pytest integration (from_fixture + parametrize) does not run on pytest 9, so the
# generated cases are drawn with hypothesis directly, one bounded run per operation and mode.
@pytest.mark.parametrize("mode", ["positive", "negative"])
def test_api_conforms_to_its_openapi_description(api_schema, mode):
    """Every operation, with generated valid and invalid input: no 5xx, answers as described."""
    from schemathesis.generation import GenerationMode

    generation = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE
    operations = _operations(api_schema)
    assert len(operations) == 19
    for operation in operations:
        _fuzz(operation, generation)


def _fuzz(operation, generation) -> None:
    """One bounded hypothesis run over one operation: no 5xx, answers as described."""
    from hypothesis import given

    checks = BODY_CHECKS if operation.method.upper() in ("POST", "PUT") else CHECKS

    @given(case=operation.as_strategy(generation_mode=generation))
    @settings(
        max_examples=15,
        deadline=None,
        derandomize=True,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        case.call_and_validate(headers={"Authorization": f"Bearer {TOKEN}"}, checks=checks)

    run()


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/documents/2327980114765846817168848584704/pdf",
        "/api/v1/documents/99999999999999999999",
        "/api/v1/documents/FATTURA/99999999999999999999/1",
    ],
)
def test_huge_ids_answer_404_not_500(api_schema, app, url):
    """Found by the fuzzer: an id beyond 64 bits overflowed the database driver (500); now no route matches."""
    response = app.test_client().get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 404 and response.is_json


def test_huge_ids_in_pages_answer_404(client, auth):
    """The same bound on every page with an id in its URL."""
    auth.login("admin")
    for url in (
        "/documenti/99999999999999999999",
        "/invii/99999999999999999999",
        "/anagrafiche/99999999999999999999",
        "/admin/users/99999999999999999999",
    ):
        assert client.get(url).status_code == 404, url
