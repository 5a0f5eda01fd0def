"""Default e-mail texts (version 1) for the 12 document types, in Italian and English.

Plain texts an office sends as they are: no promotion in transactional types, every optional datum
guarded by `{% if %}`, amounts with |it_money and dates with |it_date. Placeholders: see
schema.SCHEMA. The plain-text body is left empty: it is derived from the HTML.
"""

from __future__ import annotations

MONEY = "|it_money(documento.valuta)"

# «Gentile Mario Rossi» for a person; a role or a mailbox («PEC amministrazione», «info») gets the company.
GREETING_IT = (
    "<p>{% if contatto.persona %}Gentile {{ contatto.nome }},{% elif anagrafica.ragione_sociale %}"
    "Spettabile {{ anagrafica.ragione_sociale }},{% else %}Buongiorno,{% endif %}</p>\n"
)
GREETING_EN = (
    "<p>{% if contatto.persona %}Dear {{ contatto.nome }},{% else %}Dear Sir or Madam,{% endif %}</p>\n"
)
# How to pay, as the document says (FatturaPA ModalitaPagamento): no IBAN for a RiBa or a direct debit.
PAYMENT_IT = (
    "{% if documento.pagamento == 'riba' %}<p>Il pagamento avverrà con ricevuta bancaria (RiBa)"
    "{% if documento.scadenze|length == 1 and documento.prima_scadenza %} con scadenza "
    "{{ documento.prima_scadenza|it_date }}{% elif documento.scadenze|length > 1 %} alle scadenze indicate"
    "{% endif %}, presentata alla Vostra banca d'appoggio.</p>\n"
    "{% elif documento.pagamento == 'addebito' %}<p>L'importo sarà addebitato sul Vostro conto (addebito diretto)"
    "{% if documento.prima_scadenza %} alla scadenza del {{ documento.prima_scadenza|it_date }}{% endif %}.</p>\n"
    "{% elif documento.pagamento == 'contanti' %}<p>Il pagamento è previsto in contanti"
    "{% if documento.prima_scadenza %} entro il {{ documento.prima_scadenza|it_date }}{% endif %}.</p>\n"
    "{% elif documento.pagamento in ('bonifico', '') and azienda.iban %}<p>Per il pagamento con bonifico: "
    "IBAN {{ azienda.iban }}.</p>\n{% endif %}"
)
CLOSING_IT = "<p>Restiamo a disposizione per qualsiasi chiarimento.</p>\n<p>Cordiali saluti.</p>\n"
CLOSING_EN = (
    "<p>Should you have any questions, please do not hesitate to contact us.</p>\n<p>Kind regards,</p>\n"
)

# Documents grouped in one e-mail (e.g. the day's DDTs): a table of them.
LIST_IT = (
    '<table>\n<thead><tr><th align="left">Documento</th><th align="left">Data</th><th align="right">Totale</th>'
    "</tr></thead>\n<tbody>\n"
    "{% for d in documenti %}\n<tr><td>{{ d.tipo_nome }} n. {{ d.numero }}</td><td>{{ d.data|it_date }}</td>"
    '<td align="right">{{ d.totale|it_money(d.valuta) }}</td></tr>\n{% endfor %}\n</tbody>\n</table>\n'
)
LIST_EN = (
    LIST_IT.replace("Documento", "Document")
    .replace('left">Data', 'left">Date')
    .replace(">Totale<", ">Total<")
    .replace("n. {{", "no. {{")
)

DUE_IT = (
    "{% if documento.scadenze|length > 1 %}\n<p>Scadenze di pagamento:</p>\n<ul>\n"
    "{% for s in documento.scadenze %}\n<li>{{ s.data|it_date }}: {{ s.importo" + MONEY + " }}"
    "{% if s.modalita %} ({{ s.modalita }}){% endif %}</li>\n{% endfor %}\n</ul>\n{% endif %}\n"
)
DUE_EN = DUE_IT.replace("Scadenze di pagamento", "Payment instalments")


def _items_table(source: str, lang: str) -> str:
    """A table of open/overdue/paid items (`source` is documento.partite_…)."""
    if lang == "it":
        head = "<th>Documento</th><th>Data</th><th>Scadenza</th><th>Importo</th><th>Residuo</th>"
    else:
        head = "<th>Document</th><th>Date</th><th>Due date</th><th>Amount</th><th>Balance</th>"
    return (
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{{% for p in {source} %}}\n"
        "<tr><td>{{ p.numero }}</td><td>{{ p.data|it_date }}</td><td>{{ p.scadenza|it_date }}</td>"
        "<td>{{ p.importo" + MONEY + " }}</td><td>{{ p.residuo" + MONEY + " }}</td></tr>\n"
        "{% endfor %}\n</tbody>\n</table>\n"
    )


def _single_or_many(single: str, many: str) -> str:
    """Body part for one document, or for several grouped in one e-mail."""
    return "{% if numero_documenti > 1 %}\n" + many + "{% else %}\n" + single + "{% endif %}\n"


IT: dict[str, tuple[str, str]] = {
    "DDT": (
        "{% if numero_documenti > 1 %}Documenti di trasporto del {{ oggi|it_date }}{% else %}"
        "DDT n. {{ documento.numero }} del {{ documento.data|it_date }}{% endif %} – {{ azienda.ragione_sociale }}",
        GREETING_IT
        + _single_or_many(
            "<p>in allegato Vi trasmettiamo il documento di trasporto n. <strong>{{ documento.numero }}</strong> "
            "del {{ documento.data|it_date }} relativo alla merce in consegna"
            "{% if documento.riferimento %} ({{ documento.riferimento }}){% endif %}.</p>\n",
            "<p>in allegato Vi trasmettiamo i documenti di trasporto relativi alla merce in consegna:</p>\n"
            + LIST_IT,
        )
        + "<p>Vi preghiamo di segnalarci tempestivamente eventuali differenze o danni riscontrati al ricevimento.</p>\n"
        + CLOSING_IT,
    ),
    "FATTURA": (
        "{% if numero_documenti > 1 %}Fatture{% else %}Fattura n. {{ documento.numero }} del "
        "{{ documento.data|it_date }}{% endif %} – {{ azienda.ragione_sociale }}",
        GREETING_IT
        + _single_or_many(
            "<p>in allegato Vi trasmettiamo la copia di cortesia in PDF della fattura n. "
            "<strong>{{ documento.numero }}</strong> del {{ documento.data|it_date }} di "
            "<strong>{{ documento.totale" + MONEY + " }}</strong>{% if documento.prima_scadenza %}, "
            "scadenza {{ documento.prima_scadenza|it_date }}{% endif %}.</p>\n" + DUE_IT,
            "<p>in allegato Vi trasmettiamo le copie di cortesia in PDF delle seguenti fatture:</p>\n"
            + LIST_IT,
        )
        + "{% if avviso_sdi %}<p>{{ avviso_sdi }}</p>\n{% else %}"
        "<p>L'originale della fattura elettronica Vi è stato recapitato tramite il Sistema di Interscambio "
        "(SdI); questa copia non ha valore fiscale.</p>\n{% endif %}" + PAYMENT_IT + CLOSING_IT,
    ),
    "NOTA_CREDITO": (
        "Nota di credito n. {{ documento.numero }} del {{ documento.data|it_date }} – {{ azienda.ragione_sociale }}",
        GREETING_IT
        + _single_or_many(
            "<p>in allegato Vi trasmettiamo la copia di cortesia della nota di credito n. "
            "<strong>{{ documento.numero }}</strong> del {{ documento.data|it_date }} di "
            "<strong>{{ documento.totale" + MONEY + " }}</strong>"
            "{% if documento.riferimento %}, relativa a {{ documento.riferimento }}{% endif %}.</p>\n",
            "<p>in allegato Vi trasmettiamo le copie di cortesia delle seguenti note di credito:</p>\n"
            + LIST_IT,
        )
        + "{% if avviso_sdi %}<p>{{ avviso_sdi }}</p>\n{% else %}"
        "<p>L'originale elettronico Vi è stato recapitato tramite il Sistema di Interscambio (SdI).</p>\n"
        "{% endif %}" + CLOSING_IT,
    ),
    "OFFERTA": (
        "Offerta n. {{ documento.numero }} del {{ documento.data|it_date }} – {{ azienda.ragione_sociale }}",
        GREETING_IT
        + "<p>come da Vostra richiesta, in allegato Vi inviamo la nostra offerta n. <strong>{{ documento.numero }}"
        "</strong> del {{ documento.data|it_date }}{% if documento.riferimento %} ({{ documento.riferimento }})"
        "{% endif %}.</p>\n"
        "{% if documento.valida_fino %}<p>L'offerta è valida fino al {{ documento.valida_fino|it_date }}.</p>\n"
        "{% endif %}<p>Per confermarla potete rispondere a questa e-mail o inviarci il Vostro ordine.</p>\n"
        + CLOSING_IT,
    ),
    "ORDINE_CLIENTE": (
        "Conferma d'ordine n. {{ documento.numero }} del {{ documento.data|it_date }} – {{ azienda.ragione_sociale }}",
        GREETING_IT
        + "<p>Vi ringraziamo per il Vostro ordine{% if documento.riferimento %} ({{ documento.riferimento }})"
        "{% endif %}. In allegato trovate la nostra conferma d'ordine n. <strong>{{ documento.numero }}</strong> "
        "del {{ documento.data|it_date }}, con articoli, prezzi e condizioni di consegna.</p>\n"
        "<p>Vi preghiamo di verificarla e di segnalarci eventuali differenze entro due giorni lavorativi.</p>\n"
        + CLOSING_IT,
    ),
    "ORDINE_FORNITORE": (
        "Ordine n. {{ documento.numero }} del {{ documento.data|it_date }} – {{ azienda.ragione_sociale }}",
        GREETING_IT
        + "<p>in allegato Vi trasmettiamo il nostro ordine n. <strong>{{ documento.numero }}</strong> del "
        "{{ documento.data|it_date }}.</p>\n"
        "<p>Vi preghiamo di inviarci conferma d'ordine con la data di consegna prevista, indicando sempre il "
        "numero del nostro ordine su DDT e fattura.</p>\n" + CLOSING_IT,
    ),
    "ENTRATA_MERCE": (
        "Ricevimento merce – documento n. {{ documento.numero }} del {{ documento.data|it_date }}",
        GREETING_IT + "<p>Vi comunichiamo di aver ricevuto la merce{% if documento.riferimento %} relativa a "
        "{{ documento.riferimento }}{% endif %}. In allegato il nostro documento di entrata merce n. "
        "<strong>{{ documento.numero }}</strong> del {{ documento.data|it_date }} con le quantità registrate.</p>\n"
        "<p>Vi preghiamo di verificarlo: le eventuali differenze rispetto al Vostro DDT vanno regolate con "
        "nota di credito o integrazione.</p>\n" + CLOSING_IT,
    ),
    "ESTRATTO_CONTO": (
        "Estratto conto al {{ documento.data|it_date }} – {{ azienda.ragione_sociale }}",
        GREETING_IT
        + "<p>in allegato Vi inviamo l'estratto conto delle partite aperte al {{ documento.data|it_date }}."
        "{% if documento.partite_aperte %} Il saldo a nostro credito è di <strong>{{ documento.saldo_aperto"
        + MONEY
        + " }}</strong>.{% endif %}</p>\n"
        "{% if documento.partite_aperte %}\n"
        + _items_table("documento.partite_aperte", "it")
        + "{% else %}\n<p>Alla data indicata non risultano partite aperte.</p>\n{% endif %}\n"
        "<p>Vi preghiamo di verificarlo e di segnalarci eventuali differenze.</p>\n" + CLOSING_IT,
    ),
    "AVVISO_BONIFICO": (
        "Avviso di bonifico del {{ documento.data|it_date }} – {{ azienda.ragione_sociale }}",
        GREETING_IT
        + "<p>Vi informiamo di aver disposto in data {{ documento.data|it_date }} un bonifico a Vostro favore di "
        "<strong>{{ documento.totale" + MONEY + " }}</strong>{% if documento.riferimento %} "
        "({{ documento.riferimento }}){% endif %}.</p>\n"
        "{% if documento.partite_pagate %}\n<p>Documenti pagati:</p>\n"
        + _items_table("documento.partite_pagate", "it")
        + "{% endif %}\n"
        "<p>In allegato la distinta del pagamento.</p>\n" + CLOSING_IT,
    ),
    "INSOLUTO": (
        "Sollecito di pagamento – {{ anagrafica.ragione_sociale }}",
        GREETING_IT
        + "<p>da un controllo della nostra contabilità risultano ancora da saldare le seguenti partite, "
        "scadute alla data del {{ documento.data|it_date }}:</p>\n"
        "{% if documento.partite_scadute %}\n"
        + _items_table("documento.partite_scadute", "it")
        + "{% endif %}\n"
        "<p>Il totale scaduto è di <strong>{{ documento.totale_scaduto" + MONEY + " }}</strong>. "
        "Vi preghiamo di provvedere al pagamento quanto prima"
        "{% if azienda.iban %} con bonifico sul conto IBAN {{ azienda.iban }}{% endif %}.</p>\n"
        "<p>Se avete già provveduto al pagamento, Vi preghiamo di non tenere conto della presente e di "
        "inviarci copia della contabile.</p>\n" + CLOSING_IT,
    ),
    "DICHIARAZIONE_INTENTO": (
        "Dichiarazione d'intento n. {{ documento.numero }} del {{ documento.data|it_date }} – "
        "{{ azienda.ragione_sociale }}",
        GREETING_IT
        + "<p>in allegato Vi trasmettiamo la nostra dichiarazione d'intento n. <strong>{{ documento.numero }}"
        "</strong> del {{ documento.data|it_date }}{% if documento.protocollo %}, protocollo di ricezione "
        "dell'Agenzia delle Entrate n. {{ documento.protocollo }}{% endif %}"
        "{% if documento.plafond %}, per acquisti senza applicazione dell'IVA fino a {{ documento.plafond"
        + MONEY
        + " }}{% endif %}.</p>\n"
        "<p>Vi chiediamo di emettere le fatture relative senza applicazione dell'IVA ai sensi dell'art. 8, "
        "comma 1, lettera c) del D.P.R. 633/1972, riportando in fattura gli estremi della dichiarazione.</p>\n"
        + CLOSING_IT,
    ),
    "GENERICO": (
        "{% if documento.titolo %}{{ documento.titolo }}{% else %}Documento n. {{ documento.numero }}{% endif %}"
        " – {{ azienda.ragione_sociale }}",
        GREETING_IT
        + "<p>in allegato Vi trasmettiamo {% if documento.titolo %}il documento «{{ documento.titolo }}»"
        "{% else %}il documento n. {{ documento.numero }} del {{ documento.data|it_date }}{% endif %}.</p>\n"
        + CLOSING_IT,
    ),
}

EN: dict[str, tuple[str, str]] = {
    "DDT": (
        "{% if numero_documenti > 1 %}Delivery notes of {{ oggi|it_date }}{% else %}"
        "Delivery note no. {{ documento.numero }} of {{ documento.data|it_date }}{% endif %} – "
        "{{ azienda.ragione_sociale }}",
        GREETING_EN
        + _single_or_many(
            "<p>please find attached delivery note no. <strong>{{ documento.numero }}</strong> of "
            "{{ documento.data|it_date }} for the goods being delivered"
            "{% if documento.riferimento %} ({{ documento.riferimento }}){% endif %}.</p>\n",
            "<p>please find attached the delivery notes for the goods being delivered:</p>\n" + LIST_EN,
        )
        + "<p>Please let us know promptly of any discrepancy or damage found on receipt.</p>\n"
        + CLOSING_EN,
    ),
    "FATTURA": (
        "{% if numero_documenti > 1 %}Invoices{% else %}Invoice no. {{ documento.numero }} of "
        "{{ documento.data|it_date }}{% endif %} – {{ azienda.ragione_sociale }}",
        GREETING_EN
        + _single_or_many(
            "<p>please find attached a PDF copy of invoice no. <strong>{{ documento.numero }}</strong> of "
            "{{ documento.data|it_date }} for <strong>{{ documento.totale" + MONEY + " }}</strong>"
            "{% if documento.prima_scadenza %}, due on {{ documento.prima_scadenza|it_date }}{% endif %}.</p>\n"
            + DUE_EN,
            "<p>please find attached PDF copies of the following invoices:</p>\n" + LIST_EN,
        )
        + "{% if avviso_sdi %}<p>{{ avviso_sdi }}</p>\n{% else %}"
        "<p>The legally valid electronic invoice is delivered through the Italian exchange system (SdI); "
        "this copy is for your convenience.</p>\n{% endif %}"
        "{% if azienda.iban %}<p>Bank transfer details: IBAN {{ azienda.iban }}.</p>\n{% endif %}"
        + CLOSING_EN,
    ),
    "NOTA_CREDITO": (
        "Credit note no. {{ documento.numero }} of {{ documento.data|it_date }} – {{ azienda.ragione_sociale }}",
        GREETING_EN
        + _single_or_many(
            "<p>please find attached credit note no. <strong>{{ documento.numero }}</strong> of "
            "{{ documento.data|it_date }} for <strong>{{ documento.totale" + MONEY + " }}</strong>"
            "{% if documento.riferimento %}, relating to {{ documento.riferimento }}{% endif %}.</p>\n",
            "<p>please find attached the following credit notes:</p>\n" + LIST_EN,
        )
        + CLOSING_EN,
    ),
    "OFFERTA": (
        "Quotation no. {{ documento.numero }} of {{ documento.data|it_date }} – {{ azienda.ragione_sociale }}",
        GREETING_EN
        + "<p>as requested, please find attached our quotation no. <strong>{{ documento.numero }}</strong> of "
        "{{ documento.data|it_date }}{% if documento.riferimento %} ({{ documento.riferimento }}){% endif %}.</p>\n"
        "{% if documento.valida_fino %}<p>This quotation is valid until {{ documento.valida_fino|it_date }}.</p>\n"
        "{% endif %}<p>To accept it, simply reply to this e-mail or send us your order.</p>\n" + CLOSING_EN,
    ),
    "ORDINE_CLIENTE": (
        "Order confirmation no. {{ documento.numero }} of {{ documento.data|it_date }} – {{ azienda.ragione_sociale }}",
        GREETING_EN
        + "<p>thank you for your order{% if documento.riferimento %} ({{ documento.riferimento }}){% endif %}. "
        "Please find attached our order confirmation no. <strong>{{ documento.numero }}</strong> of "
        "{{ documento.data|it_date }} with items, prices and delivery terms.</p>\n"
        "<p>Please check it and let us know of any discrepancy within two working days.</p>\n" + CLOSING_EN,
    ),
    "ORDINE_FORNITORE": (
        "Purchase order no. {{ documento.numero }} of {{ documento.data|it_date }} – {{ azienda.ragione_sociale }}",
        GREETING_EN
        + "<p>please find attached our purchase order no. <strong>{{ documento.numero }}</strong> of "
        "{{ documento.data|it_date }}.</p>\n<p>Please send us your order confirmation with the expected delivery "
        "date, and quote our order number on the delivery note and invoice.</p>\n" + CLOSING_EN,
    ),
    "ENTRATA_MERCE": (
        "Goods received – note no. {{ documento.numero }} of {{ documento.data|it_date }}",
        GREETING_EN
        + "<p>we confirm receipt of the goods{% if documento.riferimento %} relating to {{ documento.riferimento }}"
        "{% endif %}. Please find attached our goods-received note no. <strong>{{ documento.numero }}</strong> of "
        "{{ documento.data|it_date }} with the quantities recorded.</p>\n"
        "<p>Please check it: any difference from your delivery note will be settled by credit note or "
        "supplementary invoice.</p>\n" + CLOSING_EN,
    ),
    "ESTRATTO_CONTO": (
        "Statement of account at {{ documento.data|it_date }} – {{ azienda.ragione_sociale }}",
        GREETING_EN
        + "<p>please find attached the statement of your open items at {{ documento.data|it_date }}."
        "{% if documento.partite_aperte %} The balance due is <strong>{{ documento.saldo_aperto"
        + MONEY
        + " }}</strong>.{% endif %}</p>\n"
        "{% if documento.partite_aperte %}\n"
        + _items_table("documento.partite_aperte", "en")
        + "{% else %}\n<p>There are no open items at that date.</p>\n{% endif %}\n"
        "<p>Please check it and let us know of any difference.</p>\n" + CLOSING_EN,
    ),
    "AVVISO_BONIFICO": (
        "Payment advice of {{ documento.data|it_date }} – {{ azienda.ragione_sociale }}",
        GREETING_EN
        + "<p>we are pleased to inform you that on {{ documento.data|it_date }} we ordered a bank transfer in your "
        "favour of <strong>{{ documento.totale" + MONEY + " }}</strong>{% if documento.riferimento %} "
        "({{ documento.riferimento }}){% endif %}.</p>\n"
        "{% if documento.partite_pagate %}\n<p>Documents paid:</p>\n"
        + _items_table("documento.partite_pagate", "en")
        + "{% endif %}\n"
        "<p>The payment details are attached.</p>\n" + CLOSING_EN,
    ),
    "INSOLUTO": (
        "Payment reminder – {{ anagrafica.ragione_sociale }}",
        GREETING_EN
        + "<p>according to our records, the following items were still unpaid at {{ documento.data|it_date }}:</p>\n"
        "{% if documento.partite_scadute %}\n"
        + _items_table("documento.partite_scadute", "en")
        + "{% endif %}\n"
        "<p>The total overdue amount is <strong>{{ documento.totale_scaduto" + MONEY + " }}</strong>. "
        "We kindly ask you to settle it as soon as possible"
        "{% if azienda.iban %} by bank transfer to IBAN {{ azienda.iban }}{% endif %}.</p>\n"
        "<p>If you have already paid, please disregard this reminder and send us a copy of the transfer "
        "receipt.</p>\n" + CLOSING_EN,
    ),
    "DICHIARAZIONE_INTENTO": (
        "Declaration of intent no. {{ documento.numero }} of {{ documento.data|it_date }} – "
        "{{ azienda.ragione_sociale }}",
        GREETING_EN
        + "<p>please find attached our declaration of intent no. <strong>{{ documento.numero }}</strong> of "
        "{{ documento.data|it_date }}{% if documento.protocollo %}, Italian Revenue Agency receipt no. "
        "{{ documento.protocollo }}{% endif %}{% if documento.plafond %}, for VAT-free purchases up to "
        "{{ documento.plafond"
        + MONEY
        + " }}{% endif %}.</p>\n<p>Please issue the related invoices without VAT under art. 8(1)(c) of "
        "Presidential Decree 633/1972, quoting the declaration details on the invoice.</p>\n" + CLOSING_EN,
    ),
    "GENERICO": (
        "{% if documento.titolo %}{{ documento.titolo }}{% else %}Document no. {{ documento.numero }}{% endif %}"
        " – {{ azienda.ragione_sociale }}",
        GREETING_EN + "<p>please find attached {% if documento.titolo %}the document “{{ documento.titolo }}”"
        "{% else %}document no. {{ documento.numero }} of {{ documento.data|it_date }}{% endif %}.</p>\n"
        + CLOSING_EN,
    ),
}

DEFAULT_TEMPLATES: dict[tuple[str, str], tuple[str, str]] = {
    **{(code, "it"): value for code, value in IT.items()},
    **{(code, "en"): value for code, value in EN.items()},
}


def fallback_template(doc_type, language: str) -> tuple[str, str]:
    """Subject and body for a document type without a written default."""
    if language == "en":
        return (
            "{{ documento.tipo_nome }} no. {{ documento.numero }} – {{ azienda.ragione_sociale }}",
            GREETING_EN
            + "<p>please find attached {{ documento.tipo_nome|lower }} no. {{ documento.numero }} "
            "of {{ documento.data|it_date }}.</p>\n" + CLOSING_EN,
        )
    return (
        "{{ documento.tipo_nome }} n. {{ documento.numero }} – {{ azienda.ragione_sociale }}",
        GREETING_IT + "<p>in allegato Vi trasmettiamo il documento «{{ documento.tipo_nome }}» n. "
        "{{ documento.numero }} del {{ documento.data|it_date }}.</p>\n" + CLOSING_IT,
    )
