"""The demo company itself: its record, users and sending accounts, zones, agents, categories and products."""

from __future__ import annotations

import random

import sqlalchemy as sa
from flask import current_app

from ...extensions import db
from ...models import Agent, Category, Company, MailAccount, Product, ProductCategory, Tag, User, Zone
from ..crypto import encrypt_secret
from ..users import create_user
from . import names as N
from .common import (
    COMPANY_DOMAIN,
    COMPANY_SLUG,
    DEMO_USERS,
    BuilderBase,
    _cumulative,
    make_vat_number,
    slugify,
)
from .logo import demo_logo_png


class CompanyMixin(BuilderBase):
    """Steps «azienda, utenti, account di invio» and «zone, agenti, categorie, prodotti»."""

    # -- company, users, accounts -----------------------------------------------------------------

    def company_users_accounts(self, password: str) -> None:
        """The demo company (flagged is_demo), the four demo users and two accounts on the capture server."""
        from ..blobs import store_blob

        company = db.session.get(Company, 1)
        assert company is not None  # ensure_reference_data made it
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
        for (code, _name, unit, (low, high), patterns), category in zip(
            N.PRODUCT_CATEGORIES, categories, strict=True
        ):
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
