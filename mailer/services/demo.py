"""`flask --app app demo-data`: a believable Italian company to try Recapito with.

Deterministic for a given --seed (dates are relative to the day it runs). Parties, contacts,
products, documents and lines go in with SQLAlchemy Core bulk inserts in chunks and explicit ids,
so that `--customers 20000 --lines 1000000` takes minutes. Everything happens in one transaction:
a failure leaves the database as it was.
"""

from __future__ import annotations

import random
import struct
import time
import unicodedata
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import click
import sqlalchemy as sa
from flask import current_app
from stdnum import luhn

from ..extensions import db
from ..models import (
    Agent,
    Category,
    Company,
    Contact,
    ContactFunction,
    Document,
    DocumentLine,
    DocumentType,
    MailAccount,
    Party,
    Product,
    ProductCategory,
    Tag,
    User,
    Zone,
    contact_document_types,
    contact_tags,
)
from ..reference import DOCUMENT_TYPE_CODES, PEC_DOMAINS
from . import demo_names as N
from .crypto import encrypt_secret
from .reference import ensure_reference_data
from .users import create_user

CHUNK = 20_000
COMPANY_SLUG = "brambilla-forniture"
COMPANY_DOMAIN = f"{COMPANY_SLUG}.example.com"
DEMO_USERS = [  # username, full name, roles, clearance, document types they may send (None = all)
    ("admin", "Amministratore di sistema", ["admin"], 3, None),
    ("manager", "Laura Brambilla", ["manager"], 3, None),
    (
        "operatore",
        "Paolo Sala",
        ["operator"],
        1,
        [
            "DDT",
            "FATTURA",
            "NOTA_CREDITO",
            "ORDINE_CLIENTE",
            "ORDINE_FORNITORE",
            "ENTRATA_MERCE",
            "ESTRATTO_CONTO",
            "AVVISO_BONIFICO",
            "GENERICO",
        ],
    ),
    ("commerciale", "Giulia Riva", ["sales"], 2, ["OFFERTA", "ORDINE_CLIENTE", "GENERICO"]),
]
# What the documents share of the requested number of lines, and how many lines each has.
LINE_SHARES: dict[str, tuple[float, int, int]] = {
    "FATTURA": (0.27, 1, 14),
    "DDT": (0.23, 1, 12),
    "ORDINE_CLIENTE": (0.12, 1, 10),
    "OFFERTA": (0.08, 2, 10),
    "NOTA_CREDITO": (0.02, 1, 3),
    "ORDINE_FORNITORE": (0.09, 2, 14),
    "ENTRATA_MERCE": (0.08, 2, 14),
    "ESTRATTO_CONTO": (0.05, 1, 8),
    "INSOLUTO": (0.025, 1, 5),
    "AVVISO_BONIFICO": (0.025, 1, 6),
    "GENERICO": (0.005, 1, 1),
    "DICHIARAZIONE_INTENTO": (0.0, 1, 1),
}
NUMBER_PREFIX = {
    "FATTURA": "FV",
    "DDT": "DDT",
    "ORDINE_CLIENTE": "OC",
    "OFFERTA": "OF",
    "NOTA_CREDITO": "NC",
    "ORDINE_FORNITORE": "OA",
    "ENTRATA_MERCE": "EM",
    "ESTRATTO_CONTO": "EC",
    "INSOLUTO": "SOL",
    "AVVISO_BONIFICO": "BON",
    "GENERICO": "GEN",
    "DICHIARAZIONE_INTENTO": "DI",
}
TWO = Decimal("0.01")


class DemoError(Exception):
    """Demo data refused (the message says why, in Italian)."""


@dataclass
class DemoOptions:
    """How much to build."""

    customers: int = 300
    suppliers: int = 60
    lines: int = 20_000
    products: int = 500
    seed: int = 42
    today: date | None = None


@dataclass
class DemoReport:
    """What was built and how long each step took."""

    counts: dict[str, int] = field(default_factory=dict)
    timings: list[tuple[str, float]] = field(default_factory=list)
    users_created: list[str] = field(default_factory=list)
    users_kept: list[str] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        """Total time."""
        return sum(t for _n, t in self.timings)


def money(cents: int) -> Decimal:
    """Integer cents to a Decimal amount."""
    return Decimal(cents).scaleb(-2)


def make_vat_number(rng: random.Random, office: str) -> str:
    """A P.IVA with a valid Luhn check digit: 7-digit company number, office code, check digit."""
    body = f"{rng.randint(1, 9_999_999):07d}{office}"
    return body + luhn.calc_check_digit(body)


def slugify(text: str) -> str:
    """ascii, lower case, letters and digits only (for e-mail addresses)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return "".join(c for c in text if c.isalnum())


def _weekday(day: date) -> date:
    """Move Saturdays and Sundays to the next Monday."""
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


def _end_of_month(day: date) -> date:
    """Last day of the month of `day`."""
    following = day.replace(day=28) + timedelta(days=4)
    return following - timedelta(days=following.day)


# --- the entry point ---------------------------------------------------------------------------


def build_demo_data(
    options: DemoOptions, password: str, reset: bool = False, echo=lambda msg: None
) -> DemoReport:
    """Build the demo company in the current database (one transaction); raise DemoError if refused."""
    ensure_reference_data()
    report = DemoReport()
    existing = db.session.scalar(sa.select(sa.func.count()).select_from(Party)) or 0
    company = db.session.get(Company, 1)
    if existing:
        if not reset:
            raise DemoError(
                f"Il database contiene già {existing} anagrafiche: i dati dimostrativi si caricano solo "
                "in un database vuoto. Usa --reset per sostituire dei dati dimostrativi precedenti."
            )
        if not company.is_demo:
            raise DemoError(
                "Il database contiene dati reali (l'azienda non è segnata come dimostrativa): "
                "--reset è permesso solo sui dati dimostrativi."
            )
    builder = _Builder(options, report, echo)
    try:
        if existing:
            builder.step("cancellazione dei dati precedenti", builder.wipe)
        builder.step("azienda, utenti, account di invio", lambda: builder.company_users_accounts(password))
        builder.step("zone, agenti, categorie, prodotti", builder.classification_and_products)
        builder.step("anagrafiche e contatti", builder.parties_and_contacts)
        builder.step("documenti e righe", builder.documents)
        builder.step("sequenze", builder.fix_sequences)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return report


class _Builder:
    """Generates the rows; one instance per run."""

    def __init__(self, options: DemoOptions, report: DemoReport, echo):
        self.o = options
        self.rng = random.Random(options.seed)
        self.report = report
        self.echo = echo
        self.today = options.today or date.today()
        self.conn = db.session.connection()
        self.types = {t.code: t for t in db.session.scalars(sa.select(DocumentType))}

    def step(self, name: str, work) -> None:
        """Run one step and time it."""
        started = time.perf_counter()
        work()
        elapsed = time.perf_counter() - started
        self.report.timings.append((name, elapsed))
        self.echo(f"  {name}: {elapsed:.1f} s")

    def insert(self, table, rows: list[dict]) -> None:
        """Bulk insert (executemany) in chunks."""
        for start in range(0, len(rows), CHUNK):
            self.conn.execute(sa.insert(table), rows[start : start + CHUNK])

    def next_id(self, table) -> int:
        """First free id of a table (ids are assigned here so that child rows can point at them)."""
        return (self.conn.scalar(sa.select(sa.func.max(table.c.id))) or 0) + 1

    # -- reset ------------------------------------------------------------------------------------

    def wipe(self) -> None:
        """Delete the previous demo business data and everything that depends on it."""
        metadata = db.metadata
        doomed = {
            "parties",
            "zones",
            "agents",
            "categories",
            "products",
            "product_categories",
            "tags",
            "contacts",
            "documents",
            "document_lines",
            "batches",
        }
        grew = True
        while grew:  # add every table that references a doomed one
            grew = False
            for table in metadata.sorted_tables:
                if table.name not in doomed and any(
                    fk.column.table.name in doomed for fk in table.foreign_keys
                ):
                    doomed.add(table.name)
                    grew = True
        for table in reversed(metadata.sorted_tables):
            if table.name in doomed:
                self.conn.execute(table.delete())

    # -- company, users, accounts -----------------------------------------------------------------

    def company_users_accounts(self, password: str) -> None:
        """The demo company (flagged is_demo), the four demo users and two accounts on the capture server."""
        from .blobs import store_blob

        company = db.session.get(Company, 1)
        company.name = "Brambilla Forniture Industriali S.p.A."
        company.address = "Via dell'Industria 18"
        company.zip_code, company.city, company.province = "20864", "Agrate Brianza", "MB"
        company.vat_number = make_vat_number(random.Random(self.o.seed + 1), "015")
        company.tax_code = company.vat_number
        company.phone = "+39 039 000 1234"
        company.email = f"info@{COMPANY_DOMAIN}"
        company.website = f"www.{COMPANY_DOMAIN}"
        company.iban = "IT60X0542811101000000123456"
        company.is_demo = True
        company.logo_sha256 = store_blob(demo_logo_png(), "image/png")
        all_types = list(self.types)
        for username, full_name, roles, clearance, types in DEMO_USERS:
            if db.session.scalar(sa.select(User).where(User.username == username)) is not None:
                self.report.users_kept.append(username)
                continue
            create_user(
                username,
                password,
                full_name=full_name,
                email=f"{username}@{COMPANY_DOMAIN}",
                roles=roles,
                clearance=clearance,
                send_types=types if types is not None else all_types,
            )
            self.report.users_created.append(username)
        host = current_app.config["CAPTURE_SMTP_HOST"]
        port = current_app.config["CAPTURE_SMTP_PORT"]
        pec_address = f"{COMPANY_SLUG.replace('-', '')}@demo.legalmail.it"
        accounts = [
            dict(
                name="Posta ordinaria (cattura locale)",
                kind="smtp",
                username="documenti",
                from_address=f"documenti@{COMPANY_DOMAIN}",
                from_name="Brambilla Forniture · Documenti",
                max_connections=4,
                rate_per_minute=600,
                rate_per_day=100_000,
                max_message_bytes=25 * 1024 * 1024,
                max_recipients=50,
            ),
            dict(
                name="PEC aziendale (cattura locale)",
                kind="pec",
                username=pec_address,
                from_address=pec_address,
                from_name="Brambilla Forniture Industriali S.p.A.",
                max_connections=1,
                rate_per_minute=60,
                rate_per_day=2_000,
                max_message_bytes=30 * 1024 * 1024,
                max_recipients=1,
            ),
        ]
        for values in accounts:
            account = db.session.scalar(sa.select(MailAccount).where(MailAccount.name == values["name"]))
            if account is None:
                account = MailAccount(name=values["name"])
                db.session.add(account)
            for key, value in values.items():
                setattr(account, key, value)
            account.host, account.port, account.tls_mode = host, port, "none"
            account.password_encrypted = encrypt_secret("demo")
            account.is_default, account.active = True, True
        db.session.flush()
        self.report.counts["users"] = len(self.report.users_created)

    # -- classification and products --------------------------------------------------------------

    def classification_and_products(self) -> None:
        """Zones, agents, party categories, tags, product categories and products."""
        rng = self.rng
        self.zones = {}
        for code, name in N.ZONES:
            zone = Zone(code=code, name=name)
            db.session.add(zone)
            self.zones[code] = zone
        self.agents_by_zone: dict[str, list[Agent]] = {code: [] for code, _ in N.ZONES}
        zone_codes = [code for code, _ in N.ZONES]
        for index in range(12):
            first = rng.choice(N.MALE + N.FEMALE)
            last = rng.choice(N.SURNAMES)
            agent = Agent(
                code=f"AG{index + 1:02d}",
                name=f"{first} {last}",
                email=f"{slugify(first)}.{slugify(last)}@agenti.{COMPANY_DOMAIN}",
            )
            db.session.add(agent)
            self.agents_by_zone[zone_codes[index % len(zone_codes)]].append(agent)
        self.customer_categories = [Category(code=c, name=n) for c, n in N.CUSTOMER_CATEGORIES]
        self.supplier_categories = [Category(code=c, name=n) for c, n in N.SUPPLIER_CATEGORIES]
        db.session.add_all(self.customer_categories + self.supplier_categories)
        self.tags = [Tag(name=name) for name in N.TAGS]
        db.session.add_all(self.tags)
        categories = [ProductCategory(code=c, name=n) for c, n, *_ in N.PRODUCT_CATEGORIES]
        db.session.add_all(categories)
        db.session.flush()

        products = []
        self.products: list[tuple[int, str, str, str, int]] = []  # id, code, description, unit, price cents
        next_id = self.next_id(Product.__table__)
        per_category = max(1, self.o.products // len(N.PRODUCT_CATEGORIES))
        fill = dict(
            m=lambda: rng.choice([4, 5, 6, 8, 10, 12, 16, 20]),
            l=lambda: rng.choice(
                [20, 25, 30, 40, 50, 60, 80, 100, 115, 125, 150, 180, 200, 230, 250, 300, 400, 500]
            ),
            n=lambda: rng.randint(2, 9),
            g=lambda: rng.choice([40, 60, 80, 120, 180, 240, 320]),
            t=lambda: rng.choice([7, 8, 9, 10, 11]),
            s=lambda: rng.randint(36, 47),
            f=lambda: rng.choice([2, 3]),
            q=lambda: rng.choice(["1/4", "3/8", "1/2", "3/4", "1"]),
            c=lambda: rng.randint(0, 9),
            a=lambda: rng.choice([6, 10, 16, 20, 25, 32, 40]),
            v=lambda: rng.choice([32, 46, 68]),
            w=lambda: rng.choice(["0,8", "1,0", "1,2", "2,5", "3,2"]),
        )
        for (code, _name, unit, (low, high), patterns), category in zip(N.PRODUCT_CATEGORIES, categories):
            count = per_category + (
                self.o.products - per_category * len(N.PRODUCT_CATEGORIES) if code == "FER" else 0
            )
            for index in range(count):
                pattern = patterns[index % len(patterns)]
                description = pattern.format(**{k: f() for k, f in fill.items()})
                price = int(rng.uniform(low, high) * 100)
                product_code = f"{code}{index + 1:05d}"
                products.append(
                    {
                        "id": next_id,
                        "code": product_code,
                        "description": description,
                        "unit": unit,
                        "category_id": category.id,
                    }
                )
                self.products.append((next_id, product_code, description, unit, price))
                next_id += 1
        self.insert(Product.__table__, products)
        # A few products sell a lot, most sell a little.
        self.product_weights = _cumulative([rng.paretovariate(1.3) for _ in self.products])
        self.report.counts["products"] = len(products)

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
        party_rows, contact_rows, type_rows, tag_rows = [], [], [], []
        party_id = self.next_id(Party.__table__)
        contact_id = self.next_id(Contact.__table__)
        has_erp_code = "erp_code" in Contact.__table__.c
        self.customers: list[int] = []
        self.failure_party: int | None = None
        self.suppliers: list[int] = []
        self.party_info: dict[int, dict] = {}
        used_slugs: set[str] = set()
        now = datetime(self.today.year, self.today.month, self.today.day, 8, 0)
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
        contacts = []
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

    # -- documents --------------------------------------------------------------------------------

    def documents(self) -> None:
        """Twelve months of documents of every type with their lines, in chunks."""
        rng = self.rng
        self.doc_id = self.next_id(Document.__table__)
        self.line_id = self.next_id(DocumentLine.__table__)
        self.doc_rows: list[dict] = []
        self.line_rows: list[dict] = []
        self.doc_count = 0
        self.line_count = 0
        self.per_type: dict[str, int] = {}
        self.invoices: dict[
            int, list[tuple]
        ] = {}  # party id -> [(number, date, due, total cents, paid date)]
        start = self.today - timedelta(days=365)
        # Suppliers who receive our declaration of intent (we are an habitual exporter).
        for party in self.suppliers[: max(1, min(len(self.suppliers), max(3, len(self.suppliers) // 10)))]:
            self.party_info[party]["dich"] = True
        plan = {}
        for code, (share, low, high) in LINE_SHARES.items():
            plan[code] = max(3, round(self.o.lines * share / ((low + high) / 2)))
        plan["DICHIARAZIONE_INTENTO"] = sum(1 for p in self.suppliers if self.party_info[p]["dich"])
        plan["GENERICO"] = max(3, min(plan["GENERICO"], 60))
        for code in ["FATTURA"] + [c for c in DOCUMENT_TYPE_CODES if c != "FATTURA"]:
            count = plan.get(code, 3)
            dates = sorted(_weekday(start + timedelta(days=rng.randint(0, 365))) for _ in range(count))
            dates = [d if d <= self.today else self.today for d in dates]
            sequence: dict[int, int] = {}
            for position, day in enumerate(dates, 1):
                sequence[day.year] = sequence.get(day.year, 0) + 1
                number = f"{NUMBER_PREFIX[code]}{sequence[day.year]:05d}"
                # The newest invoice goes to the customer with the failing contacts (see _contacts_for).
                last_invoice = code == "FATTURA" and position == len(dates)
                self._document(code, number, day, self.failure_party if last_invoice else None)
            self.per_type[code] = count
        self._flush(final=True)
        self.report.counts.update(documents=self.doc_count, lines=self.line_count)
        self.report.counts.update({f"type_{k}": v for k, v in self.per_type.items()})

    def _pick_party(self, code: str) -> int:
        """A party of the right kind (big customers get more documents)."""
        counterpart = self.types[code].counterpart
        if code in ("DICHIARAZIONE_INTENTO",):
            candidates = [p for p in self.suppliers if self.party_info[p]["dich"]]
            return candidates[self.per_type.get("_dich", 0) % len(candidates)]
        if counterpart == "supplier" or (
            counterpart == "any" and code == "ESTRATTO_CONTO" and self.rng.random() < 0.15
        ):
            if self.suppliers:
                return self.rng.choices(self.suppliers, cum_weights=self.supplier_weights)[0]
        return self.rng.choices(self.customers, cum_weights=self.customer_weights)[0]

    def _document(self, code: str, number: str, day: date, party: int | None = None) -> None:
        """One document row and its lines (for `party`, still to send, or for one picked at random)."""
        rng = self.rng
        chosen, party = party, party or self._pick_party(code)
        if code == "DICHIARAZIONE_INTENTO":
            self.per_type["_dich"] = self.per_type.get("_dich", 0) + 1
        info = self.party_info[party]
        doc_id = self.doc_id
        self.doc_id += 1
        extra: dict = {}
        due_dates: list = []
        open_amount = None
        lines: list[
            tuple[str, str, str, int, int, int, int | None]
        ] = []  # code, descr, unit, qty, price, disc, product
        vat_rate = 22
        if code in (
            "FATTURA",
            "DDT",
            "ORDINE_CLIENTE",
            "OFFERTA",
            "NOTA_CREDITO",
            "ORDINE_FORNITORE",
            "ENTRATA_MERCE",
        ):
            low, high = LINE_SHARES[code][1:]
            discount = rng.choice([0, 0, 0, 5, 10, 15]) if code != "NOTA_CREDITO" else 0
            picks = rng.choices(self.products, cum_weights=self.product_weights, k=rng.randint(low, high))
            for product_id, product_code, description, unit, price in picks:
                qty = (
                    rng.choice([1, 1, 2, 3, 4, 5, 6, 10, 12, 20, 25, 50, 100])
                    if unit in ("PZ", "CF", "PA")
                    else rng.randint(1, 40)
                )
                if code == "NOTA_CREDITO":
                    qty = max(1, qty // 4)
                if code in ("ORDINE_FORNITORE", "ENTRATA_MERCE"):
                    price = int(price * 0.62)
                    qty *= rng.choice([5, 10, 20])
                lines.append((product_code, description, unit, qty, price, discount, product_id))
            if code in ("ORDINE_FORNITORE", "ENTRATA_MERCE") and info["dich"]:
                vat_rate = 0
                extra["vat_note"] = "Non imponibile art. 8 c.1 lett. c DPR 633/72 (dichiarazione d'intento)"
        elif code in ("ESTRATTO_CONTO", "INSOLUTO"):
            items = self._open_items(party, day, overdue=code == "INSOLUTO")
            extra["open_items" if code == "ESTRATTO_CONTO" else "overdue_items"] = items
            extra["as_of"] = day.isoformat()
            vat_rate = 0
            for item in items:
                lines.append(
                    (
                        "",
                        f"Fattura n. {item['number']} del {_it(item['date'])}, scadenza {_it(item['due_date'])}",
                        "",
                        1,
                        int(Decimal(item["balance"]) * 100),
                        0,
                        None,
                    )
                )
            if code == "INSOLUTO":
                extra["reminder"] = rng.choice([1, 1, 2, 3])
        elif code == "AVVISO_BONIFICO":
            vat_rate = 0
            paid = []
            for _ in range(rng.randint(1, 6)):
                cents = rng.randint(20_000, 900_000)
                when = day - timedelta(days=rng.randint(30, 120))
                ref = f"{rng.randint(1, 2400)}/{when.year % 100:02d}"
                paid.append({"number": ref, "date": when.isoformat(), "amount": str(money(cents))})
                lines.append(
                    ("", f"Saldo vs. fattura n. {ref} del {_it(when.isoformat())}", "", 1, cents, 0, None)
                )
            extra.update(
                paid_items=paid,
                value_date=day.isoformat(),
                bank="Banca di credito cooperativo (demo)",
                cro=f"{rng.randint(10**10, 10**11 - 1)}",
            )
        elif code == "DICHIARAZIONE_INTENTO":
            vat_rate = 0
            ceiling = rng.choice([50_000, 100_000, 150_000, 250_000, 400_000])
            extra.update(
                protocol=f"{day.year % 100:02d}{rng.randint(10**14, 10**15 - 1)}-{rng.randint(1, 999):06d}",
                ceiling=f"{ceiling}.00",
                year=day.year,
            )
            lines.append(
                (
                    "",
                    f"Dichiarazione d'intento anno {day.year}: acquisti senza IVA fino a {ceiling:,} €".replace(
                        ",", "."
                    ),
                    "",
                    1,
                    0,
                    0,
                    None,
                )
            )
        else:  # GENERICO
            vat_rate = 0
            title = rng.choice(
                [
                    "Listino prezzi",
                    "Novità di catalogo",
                    "Condizioni generali di vendita",
                    "Calendario chiusure",
                    "Promozione di stagione",
                ]
            )
            extra["title"] = f"{title} {day.year}"
            lines.append(("", extra["title"], "", 1, 0, 0, None))

        net = vat = 0
        for line_no, (product_code, description, unit, qty, price, discount, product_id) in enumerate(
            lines, 1
        ):
            amount = (qty * price * (100 - discount) + 50) // 100
            net += amount
            vat += (amount * vat_rate + 50) // 100
            self.line_rows.append(
                {
                    "id": self.line_id,
                    "document_id": doc_id,
                    "line_no": line_no,
                    "product_id": product_id,
                    "product_code": product_code,
                    "description": description,
                    "quantity": Decimal(qty),
                    "unit": unit,
                    "unit_price": money(price),
                    "discount_pct": Decimal(discount),
                    "vat_rate": Decimal(vat_rate),
                    "amount": money(amount),
                }
            )
            self.line_id += 1
        total = net + vat
        if code == "FATTURA":
            terms, days = info["terms"]
            base = _end_of_month(day) if "f.m." in terms else day
            shares = [total // len(days)] * len(days)
            shares[-1] += total - sum(shares)
            for offset, share in zip(days, shares):
                due_dates.append(
                    {
                        "date": (base + timedelta(days=offset)).isoformat(),
                        "amount": str(money(share)),
                        "method": "RiBa" if terms.startswith("RB") else "Bonifico",
                    }
                )
            extra["payment_terms"] = terms
            last_due = date.fromisoformat(due_dates[-1]["date"])
            paid_on = None if rng.random() < 0.08 else last_due + timedelta(days=rng.randint(-5, 40))
            self.invoices.setdefault(party, []).append((number, day, last_due, total, paid_on))
            open_amount = money(0 if paid_on and paid_on <= self.today else total)
        elif code == "DDT":
            extra.update(
                carrier=rng.choice(N.CARRIERS),
                packages=rng.randint(1, 12),
                weight_kg=str(Decimal(rng.randint(20, 4000)).scaleb(-1)),
            )
        elif code == "OFFERTA":
            extra["valid_until"] = (day + timedelta(days=30)).isoformat()
        if code in ("ESTRATTO_CONTO", "INSOLUTO", "AVVISO_BONIFICO"):
            extra["total_due"] = str(money(total))
        sent = day < self.today - timedelta(days=10) or (
            day < self.today - timedelta(days=2) and rng.random() < 0.5
        )
        sent = sent and chosen is None  # a document placed on purpose (the demo failures) is still to send
        sent_at = (
            datetime.combine(day + timedelta(days=1), datetime.min.time())
            + timedelta(hours=8, minutes=rng.randint(0, 90))
            if sent
            else None
        )
        created = datetime.combine(day, datetime.min.time()) + timedelta(hours=17)
        self.doc_rows.append(
            {
                "id": doc_id,
                "type_code": code,
                "number": number,
                "year": day.year,
                "date": day,
                "party_id": party,
                "currency": "EUR",
                "total_net": money(net),
                "total_vat": money(vat),
                "total": money(total),
                "open_amount": open_amount,
                "due_dates": due_dates,
                "extra": extra,
                "source": "demo",
                "source_ref": "",
                "pdf_sha256": None,
                "pdf_rendered": False,
                "sent_at": sent_at,
                "created_at": created,
                "updated_at": created,
            }
        )
        self.doc_count += 1
        self.line_count += len(lines)
        if len(self.line_rows) >= CHUNK:
            self._flush()

    def _open_items(self, party: int, day: date, overdue: bool) -> list[dict]:
        """The party's invoices still open on `day` (only those past due for a dunning letter)."""
        rng = self.rng
        items = []
        for number, issued, due, total, paid_on in self.invoices.get(party, []):
            if issued >= day or (paid_on is not None and paid_on <= day):
                continue
            if overdue and due >= day:
                continue
            paid = 0 if rng.random() < 0.8 else total // 3
            items.append(_item(number, issued, due, total, paid))
        if not items:  # older invoices, from before the twelve months of demo documents
            for _ in range(rng.randint(1, 4)):
                issued = day - timedelta(days=rng.randint(40, 200))
                due = issued + timedelta(days=rng.choice([30, 60, 90]))
                if overdue and due >= day:
                    due = day - timedelta(days=rng.randint(5, 60))
                total = rng.randint(15_000, 1_200_000)
                items.append(
                    _item(
                        f"FV{rng.randint(1, 9000):05d}/{issued.year % 100:02d}",
                        issued,
                        due,
                        total,
                        0 if rng.random() < 0.8 else total // 2,
                    )
                )
        return items[-8:]

    def _flush(self, final: bool = False) -> None:
        """Write the documents collected so far, then their lines."""
        if self.doc_rows:
            self.insert(Document.__table__, self.doc_rows)
            self.doc_rows = []
        if self.line_rows:
            self.insert(DocumentLine.__table__, self.line_rows)
            self.line_rows = []
        if not final and self.line_count and self.line_count % (CHUNK * 10) < CHUNK:
            self.echo(f"    … {self.line_count:,} righe".replace(",", "."))

    def fix_sequences(self) -> None:
        """PostgreSQL: move the id sequences past the ids assigned here."""
        if self.conn.dialect.name != "postgresql":
            return
        for table in ("products", "parties", "contacts", "documents", "document_lines"):
            self.conn.execute(
                sa.text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE((SELECT MAX(id) FROM {table}), 1))"
                )
            )


def _item(number: str, issued: date, due: date, total: int, paid: int) -> dict:
    """One open item as the statement and dunning templates read it (ISO dates, string amounts)."""
    return {
        "number": number,
        "date": issued.isoformat(),
        "due_date": due.isoformat(),
        "amount": str(money(total)),
        "paid": str(money(paid)),
        "balance": str(money(total - paid)),
    }


def _it(iso: str) -> str:
    """ISO date to dd/mm/yyyy."""
    return f"{iso[8:10]}/{iso[5:7]}/{iso[0:4]}"


def _cumulative(weights: list[float]) -> list[float]:
    """Cumulative weights for random.choices."""
    total = 0.0
    out = []
    for weight in weights:
        total += weight
        out.append(total)
    return out


# --- a small logo, drawn here so that no binary file is needed ---------------------------------

_GLYPHS = {
    "B": ["11110", "10001", "10001", "11110", "10001", "10001", "11110"],
    "R": ["11110", "10001", "10001", "11110", "10100", "10010", "10001"],
    "A": ["01110", "10001", "10001", "11111", "10001", "10001", "10001"],
    "M": ["10001", "11011", "10101", "10101", "10001", "10001", "10001"],
    "I": ["11111", "00100", "00100", "00100", "00100", "00100", "11111"],
    "L": ["10000", "10000", "10000", "10000", "10000", "10000", "11111"],
}


def demo_logo_png(scale: int = 6) -> bytes:
    """A PNG logo: a blue mark with a stylised envelope and the word BRAMBILLA."""
    word = "BRAMBILLA"
    height = 7 * scale + 2 * 3 * scale
    mark = height
    width = mark + 2 * scale + len(word) * 6 * scale + 2 * scale
    blue, white, ink = (29, 95, 168), (255, 255, 255), (31, 41, 55)
    pixels = [[white] * width for _ in range(height)]
    for y in range(height):
        for x in range(mark):
            pixels[y][x] = blue
    # envelope: the outline and the flap
    top, bottom, left, right = height // 4, height * 3 // 4, mark // 6, mark * 5 // 6
    for x in range(left, right):
        for y in (top, bottom):
            pixels[y][x] = white
            pixels[y + 1][x] = white
    for y in range(top, bottom):
        for x in (left, right - 1):
            pixels[y][x] = white
            pixels[y][x - 1] = white
    for x in range(left, right):
        y = top + (min(x - left, right - x) * (bottom - top) // (right - left))
        pixels[y][x] = white
        pixels[min(y + 1, height - 1)][x] = white
    x0 = mark + 2 * scale
    y0 = 3 * scale
    for index, letter in enumerate(word):
        for row, bits in enumerate(_GLYPHS[letter]):
            for col, bit in enumerate(bits):
                if bit == "1":
                    for dy in range(scale):
                        for dx in range(scale):
                            pixels[y0 + row * scale + dy][x0 + index * 6 * scale + col * scale + dx] = ink
    raw = b"".join(b"\x00" + bytes(c for px in row for c in px) for row in pixels)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


# --- CLI ---------------------------------------------------------------------------------------


def register(app) -> None:
    """Add `flask --app app demo-data` to the CLI."""

    @app.cli.command("demo-data")
    @click.option(
        "--customers", default=300, show_default=True, type=click.IntRange(1, 1_000_000), help="Clienti."
    )
    @click.option(
        "--suppliers", default=60, show_default=True, type=click.IntRange(1, 100_000), help="Fornitori."
    )
    @click.option(
        "--lines",
        default=20_000,
        show_default=True,
        type=click.IntRange(100, 50_000_000),
        help="Righe di documento (circa).",
    )
    @click.option(
        "--products", default=500, show_default=True, type=click.IntRange(15, 1_000_000), help="Prodotti."
    )
    @click.option(
        "--seed", default=42, show_default=True, help="Seme del generatore: stessi dati a parità di seme."
    )
    @click.option("--reset", is_flag=True, help="Sostituisce i dati dimostrativi già caricati.")
    @click.option(
        "--if-empty", is_flag=True, help="Carica solo se non c'è nessuna anagrafica (per make run)."
    )
    def demo_data_command(customers, suppliers, lines, products, seed, reset, if_empty):
        """Build a believable Italian company (demo users, accounts on the capture server, documents)."""
        if if_empty and db.session.scalar(sa.select(sa.func.count()).select_from(Party)):
            click.echo("Ci sono già delle anagrafiche: dati dimostrativi non caricati.")
            return
        password = app.config["DEMO_PASSWORD"]
        click.echo(
            f"Dati dimostrativi: {customers} clienti, {suppliers} fornitori, ~{lines} righe (seme {seed})…"
        )
        options = DemoOptions(
            customers=customers, suppliers=suppliers, lines=lines, products=products, seed=seed
        )
        try:
            report = build_demo_data(options, password, reset=reset, echo=click.echo)
        except DemoError as exc:
            raise click.ClickException(str(exc)) from exc
        c = report.counts
        click.echo(
            f"Fatto in {report.seconds:.1f} s: {c['customers']} clienti, {c['suppliers']} fornitori, "
            f"{c['contacts']} contatti ({c['pec_contacts']} PEC, {c['contacts_without_email']} senza e-mail), "
            f"{c['products']} prodotti, {c['documents']} documenti, {c['lines']} righe."
        )
        if report.users_created:
            click.echo(f"Utenti creati (password «{password}»): {', '.join(report.users_created)}.")
        if report.users_kept:
            click.echo(f"Utenti già presenti, password non cambiata: {', '.join(report.users_kept)}.")
