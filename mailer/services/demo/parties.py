"""Demo customers and suppliers with their contacts, document types and tags."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from ...extensions import db
from ...models import Contact, ContactFunction, Party, contact_document_types, contact_tags
from ...reference import PEC_DOMAINS
from . import names as N
from .common import BuilderBase, _cumulative, make_vat_number, slugify


class PartiesMixin(BuilderBase):
    """Step «anagrafiche e contatti»."""

    # -- parties and contacts ---------------------------------------------------------------------

    def _company_name(self) -> str:
        """An invented Italian company name."""
        rng = self.rng
        form = rng.choice(N.LEGAL_FORMS)
        last = rng.choice(N.SURNAMES)
        pick = rng.random()
        if pick < 0.35:
            return f"{last} {rng.choice(N.SECTORS)} {form}"
        if pick < 0.55:
            return f"{rng.choice(N.SECTORS)} {last} {form}"
        if pick < 0.70:
            return f"F.lli {last} {rng.choice(['S.n.c.', 'S.r.l.'])}"
        if pick < 0.85:
            return f"{rng.choice(N.BRANDS)}{rng.choice(N.BRAND_TAILS)} {rng.choice(N.ADJECTIVES)} {form}"
        first = rng.choice(N.MALE + N.FEMALE)
        return f"{rng.choice(N.SECTORS)} di {first} {last}"

    def parties_and_contacts(self) -> None:
        """Customers and suppliers with 2-5 contacts each, their document types and tags."""
        rng = self.rng
        functions = {f.code: f for f in db.session.scalars(sa.select(ContactFunction))}
        defaults = {code: [t.code for t in f.default_types] for code, f in functions.items()}
        party_rows: list[dict[str, Any]] = []
        contact_rows: list[dict[str, Any]] = []
        type_rows: list[dict[str, Any]] = []
        tag_rows: list[dict[str, Any]] = []
        party_id = self.next_id(Party.__table__)
        contact_id = self.next_id(Contact.__table__)
        has_erp_code = "erp_code" in Contact.__table__.c
        self.customers: list[int] = []
        self.failure_party: int | None = None
        self.suppliers: list[int] = []
        self.party_info: dict[int, dict] = {}
        used_slugs: set[str] = set()
        # naive like every timestamp column (see models.base.utcnow)
        now = datetime(self.today.year, self.today.month, self.today.day, 8, 0)  # noqa: DTZ001
        total = self.o.customers + self.o.suppliers
        for index in range(total):
            is_customer = index < self.o.customers
            kind = "customer" if is_customer else ("both" if rng.random() < 0.04 else "supplier")
            number = index + 1 if is_customer else index - self.o.customers + 1
            city, zip_code, province, office, zone = rng.choice(N.CITIES)
            name = self._company_name()
            slug = slugify(name.split(" S.")[0].replace("F.lli", "fratelli"))[:30] or "azienda"
            if slug in used_slugs:
                slug = f"{slug}{number}"
            used_slugs.add(slug)
            domain = f"{slug}.example.com"
            vat = make_vat_number(rng, office)
            agents = self.agents_by_zone[zone]
            category = rng.choice(self.customer_categories if is_customer else self.supplier_categories)
            party_rows.append(
                {
                    "id": party_id,
                    "erp_code": f"{'C' if is_customer else 'F'}{number:05d}",
                    "kind": kind,
                    "name": name,
                    "vat_number": vat,
                    "tax_code": vat,
                    "address": f"{rng.choice(N.STREETS)} {rng.randint(1, 180)}",
                    "zip_code": zip_code,
                    "city": city,
                    "province": province,
                    "country": "IT",
                    "language": "it",
                    "zone_id": self.zones[zone].id,
                    "agent_id": rng.choice(agents).id if is_customer and agents else None,
                    "category_id": category.id,
                    "active": rng.random() > 0.02,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            (self.customers if kind in ("customer", "both") else self.suppliers).append(party_id)
            if kind == "both":
                self.suppliers.append(party_id)
            terms = rng.choice(N.PAYMENT_TERMS)
            self.party_info[party_id] = {"kind": kind, "terms": terms, "vat": vat, "dich": False}
            valid_types = {
                code
                for code, t in self.types.items()
                if t.counterpart == "any" or t.counterpart == kind or kind == "both"
            }
            failures = is_customer and index == 0  # the first customer shows the failure screens
            if failures:
                self.failure_party = party_id
                party_rows[-1]["active"] = True
            for contact in self._contacts_for(kind, domain, defaults, valid_types, failures):
                contact_rows.append(
                    {
                        "id": contact_id,
                        "party_id": party_id,
                        "function_id": functions[contact["function"]].id,
                        "name": contact["name"],
                        "phone": contact["phone"],
                        "email": contact["email"],
                        "is_pec": contact["is_pec"],
                        "pec_flag_manual": False,
                        "from_inipec": False,
                        "privacy_level": contact["privacy"],
                        "marketing_consent": contact["consent"],
                        "consent_date": contact["consent_date"],
                        "consent_source": contact["consent_source"],
                        "opted_out_at": contact["opted_out_at"],
                        "bounce_count": 0,
                        "notes": contact.get("notes", ""),
                        "active": True,
                        "created_at": now,
                        "updated_at": now,
                        **(
                            {"erp_code": f"{party_rows[-1]['erp_code']}-{len(contact_rows) % 100:02d}"}
                            if has_erp_code
                            else {}
                        ),
                    }
                )
                type_rows.extend(
                    {"contact_id": contact_id, "document_type_code": code} for code in contact["types"]
                )
                tag_rows.extend({"contact_id": contact_id, "tag_id": tag.id} for tag in contact["tags"])
                contact_id += 1
            party_id += 1
        self.insert(Party.__table__, party_rows)
        self.insert(Contact.__table__, contact_rows)
        self.insert(contact_document_types, type_rows)
        self.insert(contact_tags, tag_rows)
        self.customer_weights = _cumulative([rng.paretovariate(1.1) for _ in self.customers])
        self.supplier_weights = _cumulative([rng.paretovariate(1.1) for _ in self.suppliers])
        self.report.counts.update(
            customers=len(self.customers),
            suppliers=len(self.suppliers),
            contacts=len(contact_rows),
            pec_contacts=sum(1 for c in contact_rows if c["is_pec"]),
            contacts_without_email=sum(1 for c in contact_rows if not c["email"]),
        )

    def _person(self) -> tuple[str, str]:
        """(full name, e-mail local part) of an invented person."""
        rng = self.rng
        first = rng.choice(N.MALE if rng.random() < 0.5 else N.FEMALE)
        last = rng.choice(N.SURNAMES)
        local = (
            f"{slugify(first)}.{slugify(last)}"
            if rng.random() < 0.7
            else f"{slugify(first)[0]}.{slugify(last)}"
        )
        return f"{first} {last}", local

    def _phone(self) -> str:
        """An invented Italian phone number (landline or mobile)."""
        rng = self.rng
        if rng.random() < 0.35:
            return f"+39 3{rng.randint(20, 49)} {rng.randint(100, 999)} {rng.randint(1000, 9999)}"
        return f"+39 0{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100, 9999):04d}"

    def _contacts_for(
        self, kind: str, domain: str, defaults: dict, valid_types: set[str], failures: bool = False
    ) -> list[dict]:
        """2-5 contacts: always administration, then sales/purchasing, logistics, quality, management.

        With `failures`, at most 3 ordinary ones plus «rifiuta@» and «riprova@», who receive what the
        administration receives: the capture server refuses the first (550) and defers the second (451)."""
        rng = self.rng
        wanted = ["amministrazione"]
        if kind in ("customer", "both"):
            extra = ["acquisti", "logistica", "commerciale", "qualita", "direzione"]
        else:
            extra = ["commerciale", "logistica", "qualita", "direzione"]
        count = rng.choices([2, 3, 4, 5], weights=[30, 35, 25, 10])[0]
        if failures:
            count = min(count, 3)
        wanted += rng.sample(extra, min(count - 1, len(extra)))
        pec = rng.random() < 0.14
        contacts: list[dict[str, Any]] = []
        used_emails: set[str] = set()
        for position, function in enumerate(wanted):
            types = [t for t in defaults.get(function, []) if t in valid_types]
            if kind in ("supplier", "both") and function == "commerciale":
                types.append("ORDINE_FORNITORE")
            if function in ("commerciale", "direzione") and kind != "supplier" and rng.random() < 0.5:
                types.append("GENERICO")
            generic = position == 0 and rng.random() < 0.45
            if generic:
                name = {"amministrazione": "Ufficio amministrazione"}.get(function, function.title())
                email = f"{rng.choice(['amministrazione', 'contabilita', 'amm'])}@{domain}"
            else:
                name, local = self._person()
                email = f"{local}@{domain}"
            if email in used_emails:
                email = email.replace("@", f"{len(used_emails)}@")
            used_emails.add(email)
            if position > 0 and rng.random() < 0.06:
                email = ""  # phone only: some people never gave an address
            privacy = rng.choices([0, 1, 2, 3], weights=[50, 30, 15, 5])[0]
            if function == "direzione":
                privacy = max(privacy, 2)
            consent = rng.random() < 0.35 and bool(email)
            opted_out = (not consent) and bool(email) and rng.random() < 0.04
            when = datetime.combine(self.today - timedelta(days=rng.randint(30, 1100)), datetime.min.time())
            contacts.append(
                {
                    "function": function,
                    "name": name,
                    "email": email,
                    "is_pec": False,
                    "phone": self._phone(),
                    "types": sorted(set(types)),
                    "privacy": privacy,
                    "consent": consent,
                    "consent_date": when if consent else None,
                    "consent_source": rng.choice(N.CONSENT_SOURCES) if consent else "",
                    "opted_out_at": when if opted_out else None,
                    "tags": rng.sample(self.tags, rng.choices([0, 1, 2], weights=[50, 35, 15])[0]),
                }
            )
        if failures:
            types = sorted(set(contacts[0]["types"]) | ({"FATTURA"} & valid_types))
            for local, name, note in (
                (
                    "rifiuta",
                    "Prova rifiuto",
                    "Contatto dimostrativo: il server di cattura rifiuta i suoi "
                    "messaggi (550 5.1.1, errore definitivo) per mostrare un invio fallito.",
                ),
                (
                    "riprova",
                    "Prova rinvio",
                    "Contatto dimostrativo: il server di cattura rinvia i suoi "
                    "messaggi le prime volte (451 4.7.1, errore temporaneo) per mostrare un nuovo tentativo.",
                ),
            ):
                contacts.append(
                    {
                        "function": "amministrazione",
                        "name": name,
                        "email": f"{local}@{domain}",
                        "is_pec": False,
                        "phone": "",
                        "types": types,
                        "privacy": 0,
                        "consent": False,
                        "consent_date": None,
                        "consent_source": "",
                        "opted_out_at": None,
                        "tags": [],
                        "notes": note,
                    }
                )
        if pec:  # the administration gets its certified mailbox for PEC documents
            slug = domain.split(".")[0]
            pec_domain = rng.choice(PEC_DOMAINS[:12])
            types = sorted(
                t
                for t in ("INSOLUTO", "DICHIARAZIONE_INTENTO", "FATTURA", "ESTRATTO_CONTO")
                if t in valid_types
            )
            contacts.append(
                {
                    "function": "amministrazione",
                    "name": "PEC amministrazione",
                    "email": f"{slug}@demo.{pec_domain}",
                    "is_pec": True,
                    "phone": "",
                    "types": types,
                    "privacy": 0,
                    "consent": False,
                    "consent_date": None,
                    "consent_source": "",
                    "opted_out_at": None,
                    "tags": [],
                }
            )
            contacts[0]["types"] = [
                t for t in contacts[0]["types"] if t not in ("INSOLUTO", "DICHIARAZIONE_INTENTO")
            ]
        return contacts
