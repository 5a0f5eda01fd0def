"""Fixtures of the documents area: API tokens, a party, documents ready to render."""

from __future__ import annotations

import secrets
from datetime import date
from decimal import Decimal

import pytest

from mailer.extensions import db


@pytest.fixture
def make_token(app):
    """Factory: make_token(scopes=[...], clearance=0) -> secret (an active API token)."""

    def factory(
        scopes=(
            "documents:read",
            "documents:write",
            "parties:read",
            "parties:write",
            "contacts:read",
            "contacts:write",
        ),
        clearance: int = 0,
        name: str | None = None,
    ) -> str:
        from mailer.api.routes import hash_token
        from mailer.models import ApiToken

        secret = "rk_" + secrets.token_urlsafe(24)
        with app.app_context():
            db.session.add(
                ApiToken(
                    name=name or f"test-{secret[3:9]}",
                    token_hash=hash_token(secret),
                    prefix=secret[:10],
                    scopes=",".join(scopes),
                    privacy_clearance=clearance,
                )
            )
            db.session.commit()
        return secret

    return factory


def bearer(secret: str) -> dict:
    """Authorization header for a token."""
    return {"Authorization": f"Bearer {secret}"}


def make_party(code: str = "C0001", name: str = "Rossi Forniture S.r.l.", **fields):
    """Create a party (inside an app context) and return it."""
    from mailer.models import Party

    party = Party(
        erp_code=code,
        name=name,
        vat_number=fields.pop("vat_number", "12345670017"),
        address="Via Roma 1",
        zip_code="20100",
        city="Milano",
        province="MI",
        **fields,
    )
    db.session.add(party)
    db.session.flush()
    return party


def make_invoice(party, number: str = "1", lines: int = 20, type_code: str = "FATTURA", **extra):
    """A document with `lines` lines at 22% (inside an app context), flushed."""
    from mailer.services.intake import DocumentInput, upsert_document

    rows = []
    for i in range(1, lines + 1):
        qty, price = Decimal(i), Decimal("12.50")
        rows.append(
            {
                "line_no": i,
                "product_code": f"ART{i:04d}",
                "description": f"Articolo di prova numero {i}",
                "quantity": qty,
                "unit": "PZ",
                "unit_price": price,
                "discount_pct": Decimal("0"),
                "vat_rate": Decimal("22"),
                "amount": qty * price,
            }
        )
    net = sum(r["amount"] for r in rows)
    vat = (net * Decimal("0.22")).quantize(Decimal("0.01"))
    data = DocumentInput(
        type_code=type_code,
        number=number,
        date=date(2024, 3, 15),
        year=2024,
        party=party,
        total_net=net,
        total_vat=vat,
        total=net + vat,
        lines=rows,
        due_dates=[{"date": "2024-04-30", "amount": str(net + vat), "method": "Bonifico"}],
        extra={"payment_terms": "Bonifico 30 gg d.f.", **extra},
    )
    document, _ = upsert_document(data, source="api")
    return document


def zip_bomb(entries: dict[str, bytes], name: str, unpacked: int) -> bytes:
    """A real archive whose entry `name` unpacks to `unpacked` bytes of zeros (deflated to a few hundred KB)."""
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for entry, data in entries.items():
            archive.writestr(entry, data)
        with archive.open(name, "w", force_zip64=True) as handle:
            chunk = b"\0" * (1 << 20)
            for _ in range(unpacked >> 20):
                handle.write(chunk)
    return out.getvalue()


DOCX_PARTS = {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"}
