"""Benchmark of the party search page on 20,000 parties and 100,000 contacts (by default).

Builds (or reuses) its database with the migrations and bulk loads, logs in an operator with clearance 1
through the real login form, and times the search page server-side with the Flask test client:

- "typing": a name fragment typed letter by letter (htmx fragment requests, as the page sends them);
- "zone+agent": the list filtered by zone and agent (with and without a name fragment).

Prints median and p95 per scenario and overall, and the CPU per request of Flask (this process) and, on a
local PostgreSQL, of the server (neither grows with the machine's load); the last line is one JSON object.
Goal: median < 50 ms, p95 < 150 ms on a 2-core machine.

Environment: BENCH_DATABASE_URL runs it on PostgreSQL (a database of its own: it refuses one holding other
data), else the SQLite file BENCH_CONTACTS_DB (default /tmp/recapito-bench-contacts.db); BENCH_PARTIES and
BENCH_CONTACTS choose the size. On PostgreSQL the rows go in with COPY. Full size of issue 19 (21 s
to build):

  createdb -h 127.0.0.1 -U postgres bench_big_contacts
  BENCH_PARTIES=40000 BENCH_CONTACTS=200000 \
  BENCH_DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench_big_contacts \
  .venv/bin/python benchmarks/contacts.py
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

from benchmarks.benchdb import BulkLoader, backend_cpu_seconds, database_url

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
    from sqlalchemy import func, select

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
    loader = BulkLoader(db.session.connection())
    loader.defer_indexes("contacts", "parties", "contact_document_types", "contact_tags")
    loader.insert(Zone.__table__, [{"code": f"Z{i:02d}", "name": f"Zona {i:02d}"} for i in range(1, 21)])
    loader.insert(
        Agent.__table__,
        [
            {"code": f"AG{i:02d}", "name": f"Agente {rnd.choice(FIRST)} {rnd.choice(LAST)}", "email": ""}
            for i in range(1, 31)
        ],
    )
    loader.insert(Category.__table__, [{"code": f"CAT{i}", "name": f"Categoria {i}"} for i in range(1, 9)])
    loader.insert(Tag.__table__, [{"name": n} for n in ("vip", "newsletter", "fiera", "estero", "gdo")])
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
    loader.insert(Party.__table__, parties)
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
            loader.insert(Contact.__table__, contacts)
            contacts = []
    loader.insert(Contact.__table__, contacts)
    loader.insert(contact_document_types, docs)
    loader.insert(contact_tags, tags)
    print(f"  righe inserite: {time.perf_counter() - started:.1f} s", flush=True)
    loader.finish()
    db.session.commit()
    loader.vacuum()
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
    server_before, client_before = database_cpu(app), time.process_time()
    for scenario, url, args in requests:
        started = time.perf_counter()
        response = client.get(url, query_string=args, headers=htmx)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200 or "result-count" not in response.get_data(as_text=True):
            raise SystemExit(f"risposta inattesa per {args}: {response.status_code}")
        timings.setdefault(scenario, []).append(elapsed)
    server_after, client_after = database_cpu(app), time.process_time()
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
    figures = {"search_median_ms": round(median, 1), "search_p95_ms": round(p95, 1)}
    client_cpu = (client_after - client_before) * 1000 / len(every)
    print(f"CPU a richiesta: Flask {client_cpu:.1f} ms", end="")
    figures["flask_cpu_ms_per_request"] = round(client_cpu, 1)
    if server_before is not None and server_after is not None:
        figures["server_cpu_ms_per_request"] = round((server_after - server_before) * 1000 / len(every), 1)
        print(f", PostgreSQL {figures['server_cpu_ms_per_request']:.1f} ms", end="")
    figures["load_1min"] = os.getloadavg()[0]
    print(f" (carico {figures['load_1min']:.1f})")
    print(json.dumps(figures))


def database_cpu(app) -> float | None:
    """CPU seconds of the PostgreSQL processes serving the benchmark's database (None on SQLite)."""
    from mailer.extensions import db

    with app.app_context():
        return backend_cpu_seconds(db.session)


if __name__ == "__main__":
    main()
