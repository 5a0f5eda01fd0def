"""Twelve months of demo documents of every type, with their lines, due dates and open items."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

from ...models import Document, DocumentLine
from ...reference import DOCUMENT_TYPE_CODES
from . import names as N
from .common import CHUNK, LINE_SHARES, NUMBER_PREFIX, BuilderBase, _end_of_month, _weekday, money


class DocumentsMixin(BuilderBase):
    """Step «documenti e righe»."""

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
        if (
            counterpart == "supplier"
            or (counterpart == "any" and code == "ESTRATTO_CONTO" and self.rng.random() < 0.15)
        ) and self.suppliers:
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
        for line_no, (product_code, description, unit, qty, price, discount, line_product) in enumerate(
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
                    "product_id": line_product,
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
            for offset, share in zip(days, shares, strict=True):
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
