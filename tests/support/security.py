"""A small world with one object of every kind, shared by the security tests of a module.

Building a fresh database per (route, role) pair would make the route walk take minutes, so the
security modules build this world once (module scope) on their own copy of the migrated database
and only send requests that are refused, fail validation, or are harmless to repeat.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

import pytest

from mailer.extensions import db
from mailer.queue import get_redis
from tests.conftest import ALL_TYPES, PASSWORD
from tests.support.client import CsrfClient

ROLES = ("admin", "manager", "operator", "sales")
SMTP_PASSWORD = "Segreto-SMTP-9f3k!x"
IMAP_PASSWORD = "Segreto-IMAP-7q2w!z"
CONFIDENTIAL_EMAIL = "riservato.segreto@acme.example"
CONFIDENTIAL_NAME = "Carla Riservatissima"
PUBLIC_EMAIL = "pubblico@acme.example"
# A 1×1 transparent PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


@dataclass
class World:
    """Ids and secrets of the objects the security tests request."""

    app: object
    ids: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)

    def client(self) -> CsrfClient:
        """A fresh test client (CSRF tokens added automatically)."""
        return self.app.test_client()

    def login(self, username: str) -> CsrfClient:
        """A client logged in as one of the world's users."""
        client = self.client()
        response = client.post("/auth/login", data={"username": username, "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        return client


def _make_user(username: str, roles, clearance: int, send_types=ALL_TYPES) -> int:
    """A user with the test password."""
    from mailer.services.users import create_user

    user = create_user(
        username,
        PASSWORD,
        full_name=username.title(),
        roles=list(roles),
        clearance=clearance,
        send_types=list(send_types),
    )
    db.session.flush()
    return user.id


def build_world(app) -> World:
    """Every kind of object once, with a public (level 0) and a confidential (level 3) recipient."""
    from mailer.api.routes import hash_token
    from mailer.models import (
        ApiToken,
        Batch,
        Contact,
        Delivery,
        Document,
        DocumentAttachment,
        DocumentType,
        MailAccount,
        Party,
        Receipt,
        SavedFilter,
        Zone,
        utcnow,
    )
    from mailer.services import generic_documents as gd
    from mailer.services.blobs import store_blob
    from mailer.services.crypto import encrypt_secret
    from mailer.services.mail_templates import ensure_default_templates
    from mailer.services.sending import message_spec
    from mailer.transport.capture import store_message
    from mailer.transport.message import build_message

    world = World(app=app)
    ids = world.ids
    with app.app_context():
        ensure_default_templates()
        for role in ROLES:
            ids[f"user_{role}"] = _make_user(f"w-{role}", [role], clearance=3)
            ids[f"low_{role}"] = _make_user(f"low-{role}", [role], clearance=0)
        ids["user_spare"] = _make_user("w-spare", ["operator"], clearance=1)

        account = MailAccount(
            name="Prova",
            kind="smtp",
            host="127.0.0.1",
            port=1,
            tls_mode="none",
            username="utente-smtp",
            password_encrypted=encrypt_secret(SMTP_PASSWORD),
            imap_host="127.0.0.1",
            imap_port=1,
            imap_username="utente-imap",
            imap_password_encrypted=encrypt_secret(IMAP_PASSWORD),
            from_address="fatture@azienda.example",
            from_name="Azienda di prova",
            is_default=True,
        )
        db.session.add(account)
        db.session.flush()
        ids["account"] = account.id

        fattura = db.session.get(DocumentType, "FATTURA")
        zone = Zone(code="SEC", name="Zona di prova")  # used by the party: deleting it is refused
        party = Party(
            erp_code="SEC001",
            name="ACME Sicurezza S.r.l.",
            kind="customer",
            city="Milano",
            province="MI",
            zone=zone,
        )
        db.session.add(party)
        db.session.flush()
        ids["zone"] = zone.id
        public = Contact(
            party_id=party.id,
            name="Paolo Pubblico",
            email=PUBLIC_EMAIL,
            privacy_level=0,
            marketing_consent=True,
        )
        confidential = Contact(
            party_id=party.id,
            name=CONFIDENTIAL_NAME,
            email=CONFIDENTIAL_EMAIL,
            privacy_level=3,
            marketing_consent=True,
        )
        public.document_types = [fattura]
        confidential.document_types = [fattura]
        db.session.add_all([public, confidential])
        db.session.flush()
        ids.update(party=party.id, contact_public=public.id, contact_confidential=confidential.id)

        pdf = store_blob(PDF, "application/pdf")
        document = Document(
            type_code="FATTURA",
            number="SEC-1",
            year=date.today().year,
            date=date.today() - timedelta(days=1),
            party_id=party.id,
            total=Decimal("122.00"),
            pdf_sha256=pdf,
        )
        db.session.add(document)
        db.session.flush()
        extra = DocumentAttachment(
            document_id=document.id,
            filename="allegato.txt",
            blob_sha256=store_blob(b"allegato di prova", "text/plain"),
        )
        db.session.add(extra)
        from mailer.models import DocumentVersion

        db.session.add(
            DocumentVersion(
                document_id=document.id,
                number=1,
                party_id=party.id,
                party_name=party.name,
                date=document.date,
                total=document.total,
                pdf_sha256=pdf,
                superseded_by="api",
            )
        )  # an earlier version kept (issue 12.4)
        db.session.flush()
        ids.update(document=document.id, attachment=extra.id)

        batch = Batch(
            kind="documents",
            name="Invio di prova",
            status="done",
            type_codes=["FATTURA"],
            created_by_id=ids["user_operator"],
        )
        db.session.add(batch)
        db.session.flush()
        ids["batch"] = batch.id
        for key, contact in (("public", public), ("confidential", confidential)):
            delivery = Delivery(
                batch_id=batch.id,
                party_id=party.id,
                contact_id=contact.id,
                recipient_email=contact.email,
                recipient_name=contact.name,
                privacy_level=contact.privacy_level,
                account_id=account.id,
                status="sent",
                subject=f"Fattura SEC-1 per {contact.name}",
                body_text=f"Gentile {contact.name}",
                body_html=f"<p>Gentile {contact.name}</p>",
                message_id=f"<sec-{key}@azienda.example>",
                message_date="Mon, 02 Nov 2026 10:00:00 +0100",
                sent_at=utcnow(),
                attempts=1,
                smtp_code=250,
                smtp_reason="2.0.0 OK",
            )
            delivery.documents = [document]
            db.session.add(delivery)
            db.session.flush()
            delivery.message_sha256 = hashlib.sha256(
                build_message(message_spec(delivery, account))
            ).hexdigest()
            raw = (
                f"From: posta-certificata@pec.example\r\nTo: fatture@azienda.example\r\n"
                f"Subject: CONSEGNA: Fattura SEC-1 per {contact.name}\r\nX-Ricevuta: avvenuta-consegna\r\n"
                f"\r\nIl messaggio per {contact.email} e' stato consegnato.\r\n"
            ).encode()
            receipt = Receipt(
                delivery_id=delivery.id,
                account_id=account.id,
                source="file",
                kind="pec-receipt",
                receipt_type="avvenuta-consegna",
                outcome="applied",
                referenced_message_id=f"sec-{key}@azienda.example",
                subject="CONSEGNA",
                raw_sha256=store_blob(raw, "message/rfc822"),
                size_bytes=len(raw),
            )
            db.session.add(receipt)
            db.session.flush()
            ids[f"delivery_{key}"] = delivery.id
            ids[f"receipt_{key}"] = receipt.id

        generic = gd.create_document("Listino di prova", "", False, gd.check_upload(PNG, "listino.png"), None)
        db.session.flush()
        ids["generic"] = generic.id
        ids["generic_version"] = generic.versions[0].id if generic.versions else None
        saved = SavedFilter(
            name="Clienti",
            conditions=[{"type": "kind", "value": "customer"}],
            shared=True,
            owner_id=ids["user_admin"],
        )
        db.session.add(saved)
        db.session.flush()
        ids["filter"] = saved.id

        for name, clearance, scopes in (
            ("low", 0, None),
            ("high", 3, None),
            ("revocable", 0, "documents:read"),
        ):
            secret = f"rk_test_{name}_" + "x" * 20
            from mailer.models import API_SCOPES

            token = ApiToken(
                name=f"token-{name}",
                token_hash=hash_token(secret),
                prefix=secret[:10],
                scopes=scopes or ",".join(API_SCOPES),
                privacy_clearance=clearance,
            )
            db.session.add(token)
            db.session.flush()
            world.tokens[name] = secret
            ids[f"token_{name}"] = token.id
        db.session.commit()

        from email.message import EmailMessage

        captured = EmailMessage()
        captured["From"], captured["To"], captured["Subject"] = (
            "fatture@azienda.example",
            PUBLIC_EMAIL,
            "Prova",
        )
        captured.set_content("ciao")
        captured.add_alternative("<p>ciao</p>", subtype="html")
        captured.add_attachment(PDF, maintype="application", subtype="pdf", filename="fattura.pdf")
        ids["captured"] = store_message(
            app.config["CAPTURE_DIR"], "fatture@azienda.example", [PUBLIC_EMAIL], captured.as_bytes()
        )
        from mailer.services.campaigns import unsubscribe_token

        ids["unsubscribe_token"] = unsubscribe_token(public.id)
        from mailer.models import PreferenceRequest
        from mailer.services.preferences import preferences_token

        ids["preferences_token"] = preferences_token(party.id, PUBLIC_EMAIL)
        pending = PreferenceRequest(party_id=party.id, email=PUBLIC_EMAIL, kind="stop", type_code="FATTURA")
        db.session.add(pending)
        db.session.commit()
        ids["preference_request"] = pending.id
    return world


@pytest.fixture(scope="module")
def module_app(database_template, redis_server, tmp_path_factory):
    """The application on its own migrated database, for a whole module (see the module docstring)."""
    tmp = tmp_path_factory.mktemp("security")
    if database_template["kind"] == "sqlite":
        shutil.copy(database_template["path"], tmp / "test.db")
        url = f"sqlite:///{tmp / 'test.db'}"
    else:
        # Its own database: the function-scoped `app` fixture truncates the shared one after each test.
        from tests.conftest import PG_BASE_URL, _migrate
        from tests.support.services import create_postgres_database

        url = create_postgres_database(PG_BASE_URL)
        _migrate(url, tmp)
    from tests.conftest import build_test_app

    application = build_test_app(url, redis_server.url, tmp)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()
        get_redis().flushdb()
    if database_template["kind"] == "postgresql":
        from tests.conftest import PG_BASE_URL
        from tests.support.services import drop_postgres_database

        drop_postgres_database(PG_BASE_URL, url)
    os.environ.pop("INSTANCE_PATH", None)


@pytest.fixture(scope="module")
def sec_world(module_app) -> World:
    """The world, built once per module."""
    return build_world(module_app)
