"""Benchmark of the party search page on 20,000 parties and 100,000 contacts.

Builds (or reuses) a scratch SQLite database (BENCH_CONTACTS_DB, default /tmp/recapito-bench-contacts.db)
with the migrations and bulk Core inserts, logs in an operator with clearance 1 through the real
login form, and times the search page server-side with the Flask test client:

- "typing": a name fragment typed letter by letter (htmx fragment requests, as the page sends them);
- "zone+agent": the list filtered by zone and agent (with and without a name fragment).

Prints median and p95 per scenario and overall; the last line is one JSON object.
Goal: median < 50 ms, p95 < 150 ms on a 2-core machine.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.benchdb import database_url

N_PARTIES = int(os.environ.get("BENCH_PARTIES", 20_000))
N_CONTACTS = int(os.environ.get("BENCH_CONTACTS", 100_000))
DB_PATH = os.environ.get("BENCH_CONTACTS_DB", "/tmp/recapito-bench-contacts.db")
DB_URL = database_url(DB_PATH)  # BENCH_DATABASE_URL (PostgreSQL) when set
PASSWORD = "bench-password-123"

FIRST = [
    "Mario",
    "Luca",
    "Giulia",
    "Francesca",
    "Paolo",
    "Anna",
    "Marco",
    "Sara",
    "Giovanni",
    "Elena",
    "Andrea",
    "Chiara",
    "Stefano",
    "Laura",
    "Roberto",
    "Silvia",
    "Davide",
    "Marta",
    "Alessandro",
    "Valentina",
]
LAST = [
    "Rossi",
    "Russo",
    "Ferrari",
    "Esposito",
    "Bianchi",
    "Romano",
    "Colombo",
    "Ricci",
    "Marino",
    "Greco",
    "Bruno",
    "Gallo",
    "Conti",
    "De Luca",
    "Mancini",
    "Costa",
    "Giordano",
    "Rizzo",
    "Lombardi",
    "Moretti",
    "Barbieri",
    "Fontana",
    "Santoro",
    "Mariani",
    "Rinaldi",
    "Caruso",
    "Ferrara",
    "Galli",
    "Martini",
    "Leone",
]
WORDS = [
    "Utensili",
    "Meccanica",
    "Alimentari",
    "Tessile",
    "Edilizia",
    "Ferramenta",
    "Logistica",
    "Impianti",
    "Plastica",
    "Legno",
    "Vetro",
    "Elettronica",
    "Carta",
    "Trasporti",
    "Chimica",
    "Agricola",
    "Ottica",
    "Arredamenti",
    "Serramenti",
    "Ceramiche",
    "Colori",
    "Gomma",
    "Acciai",
    "Forniture",
    "Sistemi",
]
FORMS = ["S.r.l.", "S.p.A.", "S.n.c.", "S.a.s.", "di {last} {first}"]
CITIES = [
    ("Milano", "MI"),
    ("Roma", "RM"),
    ("Torino", "TO"),
    ("Napoli", "NA"),
    ("Bologna", "BO"),
    ("Firenze", "FI"),
    ("Bari", "BA"),
    ("Verona", "VR"),
    ("Padova", "PD"),
    ("Brescia", "BS"),
    ("Bergamo", "BG"),
    ("Genova", "GE"),
    ("Parma", "PR"),
    ("Modena", "MO"),
    ("Vicenza", "VI"),
]
FUNCTIONS_DOCS = {1: ["OFFERTA"], 3: ["FATTURA", "ESTRATTO_CONTO"], 4: ["DDT"]}


def build(app) -> None:
    """Create the schema with the migrations and fill it with bulk inserts (skipped when present)."""
    from flask_migrate import upgrade
    from sqlalchemy import func, insert, select

    from mailer.extensions import db
    from mailer.models import (
        Agent,
        Category,
        Contact,
        ContactFunction,
        Party,
        Tag,
        Zone,
        contact_document_types,
        contact_tags,
    )
    from mailer.services.reference import ensure_reference_data
    from mailer.services.users import create_user

    upgrade()
    ensure_reference_data()
    have = db.session.scalar(select(func.count(Party.id))) or 0
    if have >= N_PARTIES and (db.session.scalar(select(func.count(Contact.id))) or 0) >= N_CONTACTS:
        print(f"Database riusato: {DB_URL} ({have} anagrafiche)")
        return
    if have:
        raise SystemExit(f"{DB_URL} contiene dati parziali: cancellalo e rilancia.")
    started = time.perf_counter()
    rnd = random.Random(42)
    db.session.execute(insert(Zone), [{"code": f"Z{i:02d}", "name": f"Zona {i:02d}"} for i in range(1, 21)])
    db.session.execute(
        insert(Agent),
        [
            {"code": f"AG{i:02d}", "name": f"Agente {rnd.choice(FIRST)} {rnd.choice(LAST)}", "email": ""}
            for i in range(1, 31)
        ],
    )
    db.session.execute(insert(Category), [{"code": f"CAT{i}", "name": f"Categoria {i}"} for i in range(1, 9)])
    db.session.execute(insert(Tag), [{"name": n} for n in ("vip", "newsletter", "fiera", "estero", "gdo")])
    functions = {f.code: f.id for f in db.session.scalars(select(ContactFunction))}
    function_ids = list(functions.values())
    parties = []
    for i in range(1, N_PARTIES + 1):
        last, first = rnd.choice(LAST), rnd.choice(FIRST)
        form = rnd.choice(FORMS).format(last=last, first=first)
        name = (
            f"{rnd.choice(WORDS)} {last} {form}"
            if rnd.random() < 0.6
            else f"{last} {rnd.choice(WORDS)} {form}"
        )
        city, prov = rnd.choice(CITIES)
        parties.append(
            {
                "erp_code": f"C{i:06d}",
                "kind": rnd.choice(["customer"] * 8 + ["supplier", "both"]),
                "name": name,
                "vat_number": f"{rnd.randrange(10**10):010d}1",
                "tax_code": "",
                "address": f"Via {rnd.choice(LAST)} {i % 200}",
                "zip_code": "20100",
                "city": city,
                "province": prov,
                "country": "IT",
                "language": "it",
                "zone_id": rnd.randint(1, 20),
                "agent_id": rnd.randint(1, 30),
                "category_id": rnd.randint(1, 8),
                "active": True,
            }
        )
    db.session.execute(insert(Party), parties)
    contacts, docs, tags = [], [], []
    for i in range(1, N_CONTACTS + 1):
        first, last = rnd.choice(FIRST), rnd.choice(LAST)
        party_id = rnd.randint(1, N_PARTIES)
        level = rnd.choices([0, 1, 2, 3], weights=[70, 15, 10, 5])[0]
        function_id = rnd.choice(function_ids)
        contacts.append(
            {
                "party_id": party_id,
                "erp_code": "",
                "name": f"{first} {last}",
                "function_id": function_id,
                "phone": f"+39 02 {rnd.randrange(10**7):07d}",
                "email": f"{first.lower()}.{last.lower().replace(' ', '')}{i}@{'pec.' if i % 9 == 0 else ''}cliente{party_id}.it",
                "is_pec": i % 9 == 0,
                "pec_flag_manual": False,
                "from_inipec": False,
                "privacy_level": level,
                "marketing_consent": rnd.random() < 0.3,
                "consent_source": "",
                "bounce_count": 0,
                "notes": "",
                "active": True,
            }
        )
        for code in FUNCTIONS_DOCS.get(function_id, []):
            docs.append({"contact_id": i, "document_type_code": code})
        if rnd.random() < 0.2:
            tags.append({"contact_id": i, "tag_id": rnd.randint(1, 5)})
        if len(contacts) == 20_000:
            db.session.execute(insert(Contact), contacts)
            contacts = []
    if contacts:
        db.session.execute(insert(Contact), contacts)
    db.session.execute(insert(contact_document_types), docs)
    db.session.execute(insert(contact_tags), tags)
    create_user(
        "bench", PASSWORD, full_name="Operatore benchmark", roles=["operator"], clearance=1, send_types=[]
    )
    db.session.commit()
    db.session.execute(db.text("ANALYZE"))
    db.session.commit()
    print(f"Database creato in {time.perf_counter() - started:.1f} s: {DB_URL}")


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def main() -> None:
    """Build, log in, time the searches, print the figures."""
    from mailer import create_app
    from mailer.config import TestConfig

    config = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    config.update(SQLALCHEMY_DATABASE_URI=DB_URL, WTF_CSRF_ENABLED=False, TESTING=False)
    app = create_app(config)
    with app.app_context():
        build(app)
    client = app.test_client()
    response = client.post("/auth/login", data={"username": "bench", "password": PASSWORD})
    if response.status_code != 302:
        raise SystemExit(f"login non riuscito: {response.status_code}")
    htmx = {
        "HX-Request": "true",
        "HX-Target": "party-results",
        "HX-Current-URL": "http://localhost/anagrafiche/",
    }
    rnd = random.Random(7)
    requests: list[tuple[str, str, dict]] = []
    for word in [
        "rossi",
        "ferrari",
        "bianchi",
        "utensili",
        "giulia",
        "moretti",
        "mancini",
        "plastica",
        "fontana",
        "caruso",
        "giordano",
        "trasporti",
    ]:
        for n in range(2, len(word) + 1):
            requests.append(("typing", "/anagrafiche/", {"q": word[:n]}))
    for _ in range(60):
        args: dict[str, int | str] = {"zone": rnd.randint(1, 20), "agent": rnd.randint(1, 30)}
        if rnd.random() < 0.5:
            args["q"] = rnd.choice(["ros", "mar", "fer", "ital", "gio", "s.r.l"])
        requests.append(("zone+agent", "/anagrafiche/", args))
    for _ in range(5):  # warm-up: imports, template compilation, SQLite page cache
        client.get("/anagrafiche/", query_string={"q": "warm"}, headers=htmx)
    timings: dict[str, list[float]] = {}
    for scenario, url, args in requests:
        started = time.perf_counter()
        response = client.get(url, query_string=args, headers=htmx)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200 or "result-count" not in response.get_data(as_text=True):
            raise SystemExit(f"risposta inattesa per {args}: {response.status_code}")
        timings.setdefault(scenario, []).append(elapsed)
    every = [t for values in timings.values() for t in values]
    for scenario, values in timings.items():
        print(
            f"{scenario:<11} n={len(values):3d}  mediana {statistics.median(values):6.1f} ms  "
            f"p95 {percentile(values, 95):6.1f} ms  max {max(values):6.1f} ms"
        )
    median, p95 = statistics.median(every), percentile(every, 95)
    print(
        f"{'totale':<11} n={len(every):3d}  mediana {median:6.1f} ms  p95 {p95:6.1f} ms  (obiettivo: < 50 / < 150 ms)"
    )
    print(json.dumps({"search_median_ms": round(median, 1), "search_p95_ms": round(p95, 1)}))


if __name__ == "__main__":
    main()
