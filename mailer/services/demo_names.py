"""Plain data for the demo company: Italian names, real cities with province and ZIP, products.

Cities, provinces and ZIP codes are real; people and companies are invented. The three-digit
province code is the office code of the P.IVA (ISTAT order; newer provinces use their parent's).
"""
from __future__ import annotations

# city, ZIP, province, P.IVA office code, zone code
CITIES: list[tuple[str, str, str, str, str]] = [
    ("Milano", "20121", "MI", "015", "NO"), ("Sesto San Giovanni", "20099", "MI", "015", "NO"),
    ("Legnano", "20025", "MI", "015", "NO"), ("Rho", "20017", "MI", "015", "NO"),
    ("Monza", "20900", "MB", "015", "NO"), ("Lissone", "20851", "MB", "015", "NO"),
    ("Seregno", "20831", "MB", "015", "NO"), ("Agrate Brianza", "20864", "MB", "015", "NO"),
    ("Bergamo", "24121", "BG", "016", "NO"), ("Dalmine", "24044", "BG", "016", "NO"),
    ("Treviglio", "24047", "BG", "016", "NO"), ("Brescia", "25121", "BS", "017", "NO"),
    ("Lumezzane", "25065", "BS", "017", "NO"), ("Chiari", "25032", "BS", "017", "NO"),
    ("Desenzano del Garda", "25015", "BS", "017", "NO"), ("Como", "22100", "CO", "013", "NO"),
    ("Cantù", "22063", "CO", "013", "NO"), ("Erba", "22036", "CO", "013", "NO"),
    ("Varese", "21100", "VA", "012", "NO"), ("Busto Arsizio", "21052", "VA", "012", "NO"),
    ("Gallarate", "21013", "VA", "012", "NO"), ("Saronno", "21047", "VA", "012", "NO"),
    ("Lecco", "23900", "LC", "097", "NO"), ("Pavia", "27100", "PV", "018", "NO"),
    ("Vigevano", "27029", "PV", "018", "NO"), ("Cremona", "26100", "CR", "019", "NO"),
    ("Mantova", "46100", "MN", "020", "NO"), ("Lodi", "26900", "LO", "098", "NO"),
    ("Sondrio", "23100", "SO", "014", "NO"), ("Torino", "10121", "TO", "001", "NO"),
    ("Pinerolo", "10064", "TO", "001", "NO"), ("Ivrea", "10015", "TO", "001", "NO"),
    ("Novara", "28100", "NO", "003", "NO"), ("Alessandria", "15121", "AL", "006", "NO"),
    ("Asti", "14100", "AT", "005", "NO"), ("Cuneo", "12100", "CN", "004", "NO"),
    ("Alba", "12051", "CN", "004", "NO"), ("Biella", "13900", "BI", "096", "NO"),
    ("Vercelli", "13100", "VC", "002", "NO"), ("Aosta", "11100", "AO", "007", "NO"),
    ("Genova", "16121", "GE", "010", "NO"), ("La Spezia", "19121", "SP", "011", "NO"),
    ("Savona", "17100", "SV", "009", "NO"), ("Imperia", "18100", "IM", "008", "NO"),
    ("Verona", "37121", "VR", "023", "NE"), ("Villafranca di Verona", "37069", "VR", "023", "NE"),
    ("Vicenza", "36100", "VI", "024", "NE"), ("Bassano del Grappa", "36061", "VI", "024", "NE"),
    ("Schio", "36015", "VI", "024", "NE"), ("Arzignano", "36071", "VI", "024", "NE"),
    ("Thiene", "36016", "VI", "024", "NE"), ("Padova", "35121", "PD", "028", "NE"),
    ("Cittadella", "35013", "PD", "028", "NE"), ("Venezia", "30121", "VE", "027", "NE"),
    ("Mestre", "30171", "VE", "027", "NE"), ("Treviso", "31100", "TV", "026", "NE"),
    ("Castelfranco Veneto", "31033", "TV", "026", "NE"), ("Conegliano", "31015", "TV", "026", "NE"),
    ("Montebelluna", "31044", "TV", "026", "NE"), ("Rovigo", "45100", "RO", "029", "NE"),
    ("Belluno", "32100", "BL", "025", "NE"), ("Trento", "38121", "TN", "022", "NE"),
    ("Rovereto", "38068", "TN", "022", "NE"), ("Bolzano", "39100", "BZ", "021", "NE"),
    ("Merano", "39012", "BZ", "021", "NE"), ("Udine", "33100", "UD", "030", "NE"),
    ("Pordenone", "33170", "PN", "093", "NE"), ("Sacile", "33077", "PN", "093", "NE"),
    ("Trieste", "34121", "TS", "032", "NE"), ("Gorizia", "34170", "GO", "031", "NE"),
    ("Bologna", "40121", "BO", "037", "NE"), ("Imola", "40026", "BO", "037", "NE"),
    ("Modena", "41121", "MO", "036", "NE"), ("Carpi", "41012", "MO", "036", "NE"),
    ("Sassuolo", "41049", "MO", "036", "NE"), ("Reggio Emilia", "42121", "RE", "035", "NE"),
    ("Parma", "43121", "PR", "034", "NE"), ("Piacenza", "29121", "PC", "033", "NE"),
    ("Ferrara", "44121", "FE", "038", "NE"), ("Ravenna", "48121", "RA", "039", "NE"),
    ("Faenza", "48018", "RA", "039", "NE"), ("Forlì", "47121", "FC", "040", "NE"),
    ("Cesena", "47521", "FC", "040", "NE"), ("Rimini", "47921", "RN", "099", "NE"),
    ("Firenze", "50121", "FI", "048", "CE"), ("Empoli", "50053", "FI", "048", "CE"),
    ("Prato", "59100", "PO", "100", "CE"), ("Pistoia", "51100", "PT", "047", "CE"),
    ("Pisa", "56121", "PI", "050", "CE"), ("Livorno", "57121", "LI", "049", "CE"),
    ("Lucca", "55100", "LU", "046", "CE"), ("Arezzo", "52100", "AR", "051", "CE"),
    ("Siena", "53100", "SI", "052", "CE"), ("Grosseto", "58100", "GR", "053", "CE"),
    ("Perugia", "06121", "PG", "054", "CE"), ("Foligno", "06034", "PG", "054", "CE"),
    ("Terni", "05100", "TR", "055", "CE"), ("Ancona", "60121", "AN", "042", "CE"),
    ("Jesi", "60035", "AN", "042", "CE"), ("Pesaro", "61121", "PU", "041", "CE"),
    ("Macerata", "62100", "MC", "043", "CE"), ("Civitanova Marche", "62012", "MC", "043", "CE"),
    ("Fermo", "63900", "FM", "044", "CE"), ("Ascoli Piceno", "63100", "AP", "044", "CE"),
    ("Roma", "00185", "RM", "058", "CE"), ("Pomezia", "00071", "RM", "058", "CE"),
    ("Latina", "04100", "LT", "059", "CE"), ("Frosinone", "03100", "FR", "060", "CE"),
    ("Viterbo", "01100", "VT", "056", "CE"), ("Rieti", "02100", "RI", "057", "CE"),
    ("L'Aquila", "67100", "AQ", "066", "SU"), ("Pescara", "65121", "PE", "068", "SU"),
    ("Chieti", "66100", "CH", "069", "SU"), ("Teramo", "64100", "TE", "067", "SU"),
    ("Campobasso", "86100", "CB", "070", "SU"), ("Napoli", "80121", "NA", "063", "SU"),
    ("Nola", "80035", "NA", "063", "SU"), ("Pomigliano d'Arco", "80038", "NA", "063", "SU"),
    ("Salerno", "84121", "SA", "065", "SU"), ("Caserta", "81100", "CE", "061", "SU"),
    ("Avellino", "83100", "AV", "064", "SU"), ("Benevento", "82100", "BN", "062", "SU"),
    ("Bari", "70121", "BA", "072", "SU"), ("Altamura", "70022", "BA", "072", "SU"),
    ("Barletta", "76121", "BT", "072", "SU"), ("Lecce", "73100", "LE", "075", "SU"),
    ("Taranto", "74121", "TA", "073", "SU"), ("Brindisi", "72100", "BR", "074", "SU"),
    ("Foggia", "71121", "FG", "071", "SU"), ("Potenza", "85100", "PZ", "076", "SU"),
    ("Matera", "75100", "MT", "077", "SU"), ("Cosenza", "87100", "CS", "078", "SU"),
    ("Catanzaro", "88100", "CZ", "079", "SU"), ("Reggio Calabria", "89121", "RC", "080", "SU"),
    ("Palermo", "90121", "PA", "082", "IS"), ("Catania", "95121", "CT", "087", "IS"),
    ("Messina", "98121", "ME", "083", "IS"), ("Siracusa", "96100", "SR", "089", "IS"),
    ("Ragusa", "97100", "RG", "088", "IS"), ("Trapani", "91100", "TP", "081", "IS"),
    ("Cagliari", "09121", "CA", "092", "IS"), ("Sassari", "07100", "SS", "090", "IS"),
    ("Olbia", "07026", "SS", "090", "IS"),
]

ZONES = [("NO", "Nord-Ovest"), ("NE", "Nord-Est"), ("CE", "Centro"), ("SU", "Sud"), ("IS", "Isole")]

MALE = ["Marco", "Luca", "Giuseppe", "Giovanni", "Andrea", "Francesco", "Alessandro", "Roberto", "Stefano",
        "Paolo", "Davide", "Matteo", "Simone", "Massimo", "Fabio", "Claudio", "Antonio", "Riccardo",
        "Daniele", "Federico", "Giorgio", "Mauro", "Enrico", "Lorenzo", "Alberto", "Maurizio", "Sergio",
        "Pietro", "Carlo", "Nicola", "Emanuele", "Gabriele", "Michele", "Vincenzo", "Salvatore", "Tommaso"]
FEMALE = ["Giulia", "Francesca", "Chiara", "Sara", "Laura", "Valentina", "Alessandra", "Elena", "Silvia",
          "Federica", "Paola", "Martina", "Roberta", "Elisa", "Monica", "Barbara", "Cristina", "Anna",
          "Giovanna", "Simona", "Daniela", "Serena", "Ilaria", "Michela", "Manuela", "Stefania", "Beatrice",
          "Lucia", "Marta", "Caterina", "Veronica", "Raffaella", "Antonella", "Claudia", "Teresa", "Irene"]
SURNAMES = ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino",
            "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa", "Giordano", "Rizzo",
            "Lombardi", "Moretti", "Barbieri", "Fontana", "Santoro", "Mariani", "Rinaldi", "Caruso",
            "Ferrara", "Galli", "Martini", "Leone", "Longo", "Gentile", "Martinelli", "Vitale", "Lombardo",
            "Serra", "Coppola", "De Santis", "D'Angelo", "Marchetti", "Parisi", "Villa", "Conte", "Ferraro",
            "Ferri", "Fabbri", "Bianco", "Marini", "Grasso", "Valentini", "Messina", "Sala", "De Angelis",
            "Gatti", "Pellegrini", "Palumbo", "Sanna", "Farina", "Rizzi", "Monti", "Cattaneo", "Morelli",
            "Amato", "Silvestri", "Mazza", "Testa", "Dell'Acqua", "Pellegrino", "Carbone", "Giuliani",
            "Benedetti", "Barone", "Rossetti", "Caputo", "Montanari", "Guerra", "Palmieri", "Bernardi",
            "Martino", "Fiore", "Brambilla", "Pozzi", "Sartori", "Zanetti", "Bertolini", "Tosi", "Zanella",
            "Brunetti", "Riva", "Marchi", "Orlando", "Negri", "Bassi", "Cerutti", "Pagani", "Invernizzi"]

SECTORS = ["Meccanica", "Utensileria", "Ferramenta", "Impianti", "Termoidraulica", "Elettroforniture",
           "Edilizia", "Costruzioni", "Carpenteria", "Serramenti", "Plastica", "Forniture Industriali",
           "Automazioni", "Minuterie", "Stampaggio", "Torneria", "Impiantistica", "Colorificio", "Trasporti",
           "Manutenzioni", "Lattoneria", "Officine", "Arredamenti", "Macchine Agricole", "Packaging"]
ADJECTIVES = ["Lombarda", "Veneta", "Emiliana", "Padana", "Adriatica", "Tirrenica", "del Garda", "Brianzola",
              "Bergamasca", "Toscana", "Sannita", "Salentina", "Sarda", "Sicula", "Friulana", "Piemontese",
              "Ligure", "Marchigiana", "Romagnola", "Centro Italia", "Nord Est", "Alpina", "Appenninica"]
BRANDS = ["Tecno", "Metal", "Idro", "Elettro", "Fer", "Plast", "Inox", "Mecc", "Termo", "Edil", "Tor", "Omni"]
BRAND_TAILS = ["tec", "sider", "service", "line", "form", "lux", "pro", "flex", "mec", "tub", "fix", "system"]
LEGAL_FORMS = ["S.r.l.", "S.r.l.", "S.r.l.", "S.p.A.", "S.n.c.", "S.a.s.", "S.r.l.s."]

STREETS = ["Via Roma", "Via Garibaldi", "Via dell'Industria", "Via dell'Artigianato", "Viale Europa",
           "Via Mazzini", "Via Verdi", "Corso Italia", "Via dei Mille", "Via Torino", "Via Milano",
           "Via Galileo Galilei", "Via Alessandro Volta", "Via Guglielmo Marconi", "Via Enrico Fermi",
           "Via Kennedy", "Via Matteotti", "Via Gramsci", "Via Don Sturzo", "Via del Lavoro",
           "Via dell'Innovazione", "Via dei Mestieri", "Via Leonardo da Vinci", "Via Primo Maggio",
           "Viale della Repubblica", "Via Cesare Battisti", "Via San Francesco", "Via Nazionale",
           "Via Emilia", "Via Aurelia", "Via Postumia", "Strada Provinciale 11", "Via Vittorio Veneto"]

CUSTOMER_CATEGORIES = [("INGR", "Ingrosso"), ("DETT", "Dettaglio e ferramenta"), ("IND", "Industria"),
                       ("ART", "Artigiano"), ("INST", "Installatore"), ("GDO", "GDO e bricolage"),
                       ("PA", "Ente pubblico")]
SUPPLIER_CATEGORIES = [("PROD", "Produttore"), ("DIST", "Distributore"), ("SERV", "Servizi e trasporti")]

TAGS = ["newsletter", "fiera MECSPE", "cliente storico", "prospect", "VIP", "edilizia", "metalmeccanica",
        "agroalimentare", "automotive", "installatori", "listino riservato", "campagna primavera"]

CONSENT_SOURCES = ["modulo sito web", "fiera", "contratto di fornitura", "telefono", "biglietto da visita",
                   "evento in sede"]

PAYMENT_TERMS = [("RB 60 gg d.f. f.m.", [60]), ("RB 30/60 gg d.f. f.m.", [30, 60]), ("Bonifico 30 gg d.f.", [30]),
                 ("Bonifico 60 gg d.f. f.m.", [60]), ("Rimessa diretta", [0]), ("RB 30/60/90 gg f.m.", [30, 60, 90])]

CARRIERS = ["Trasporti Rapidi Padani S.r.l.", "Autotrasporti F.lli Negri S.n.c.", "Logistica Adriatica S.p.A.",
            "Vettore del cliente", "Mezzo proprio"]

# product category code, name, unit, (min, max) price in euro, description patterns
PRODUCT_CATEGORIES: list[tuple[str, str, str, tuple[float, float], list[str]]] = [
    ("VIT", "Viteria e bulloneria", "CF", (3, 60),
     ["Vite TE zincata M{m}x{l} UNI 5739 conf. 100 pz", "Vite TCEI inox A2 M{m}x{l} conf. 50 pz",
      "Dado esagonale autobloccante M{m} conf. 200 pz", "Rondella piana zincata Ø{m} conf. 500 pz",
      "Tassello in nylon Ø{m}x{l} conf. 100 pz", "Barra filettata zincata M{m} 1 m"]),
    ("UTM", "Utensileria manuale", "PZ", (4, 120),
     ["Chiave combinata {m} mm cromo-vanadio", "Set giraviti isolati 1000 V {n} pezzi",
      "Pinza universale {l} mm", "Martello da carpentiere {n}00 g", "Set chiavi a bussola 1/2\" {n} pezzi",
      "Chiave dinamometrica 40-{l} Nm"]),
    ("ELU", "Elettroutensili", "PZ", (60, 650),
     ["Trapano avvitatore a batteria 18 V {n},0 Ah", "Smerigliatrice angolare Ø{l} mm {n}00 W",
      "Tassellatore SDS-Plus {n} J", "Seghetto alternativo {n}00 W", "Levigatrice orbitale {l} mm"]),
    ("ABR", "Abrasivi", "PZ", (1, 25),
     ["Disco lamellare Ø{l} grana {g}", "Disco da taglio inox Ø{l}x1,0 mm", "Foglio abrasivo grana {g} 230x280",
      "Spazzola a tazza Ø{m}0 filo ottonato", "Mola a disco Ø{l} per ferro"]),
    ("DPI", "Antinfortunistica (DPI)", "PA", (2, 90),
     ["Guanti in nitrile tg. {t}", "Scarpa antinfortunistica S3 n. {s}", "Occhiali di protezione lente chiara",
      "Cuffia antirumore SNR {m} dB", "Mascherina FFP{f} con valvola conf. 10", "Guanti antitaglio livello D tg. {t}"]),
    ("IDR", "Idraulica", "PZ", (2, 180),
     ["Raccordo in ottone a T {q}\"", "Valvola a sfera passaggio totale {q}\"", "Tubo multistrato Ø{m} rotolo 100 m",
      "Nastro in PTFE 12 mm x 12 m", "Flessibile inox {l} mm F-F {q}\""]),
    ("ELE", "Materiale elettrico", "PZ", (1, 140),
     ["Cavo FG16OR16 3G{c} mm² al metro", "Interruttore magnetotermico {n}P {a} A", "Scatola di derivazione {l}x{l}",
      "Tubo corrugato Ø{m} rotolo 50 m", "Morsetto a leva 5 poli conf. 25", "Plafoniera LED {a} W IP65"]),
    ("ADS", "Adesivi e sigillanti", "PZ", (3, 30),
     ["Silicone acetico trasparente {l} ml", "Schiuma poliuretanica {l} ml", "Adesivo cianoacrilico {n}0 g",
      "Frenafiletti media resistenza {n}0 ml", "Sigillante MS polimero grigio {l} ml"]),
    ("LUB", "Lubrificanti", "LT", (4, 70),
     ["Olio da taglio emulsionabile {n} l", "Grasso al litio EP2 {n} kg", "Sbloccante spray {l} ml",
      "Olio idraulico ISO VG {v} {n} l"]),
    ("SAL", "Saldatura", "PZ", (3, 900),
     ["Filo per saldatura SG2 Ø{w} bobina 15 kg", "Elettrodi rutili Ø{w} conf. {n} kg",
      "Maschera per saldatura autoscurante DIN 9-13", "Saldatrice inverter MMA {l} A"]),
    ("MIS", "Misura e controllo", "PZ", (5, 400),
     ["Calibro digitale {l} mm", "Metro a nastro {n} m", "Livella in alluminio {l} cm", "Micrometro 0-25 mm",
      "Multimetro digitale CAT III"]),
    ("PNE", "Pneumatica", "PZ", (3, 250),
     ["Raccordo rapido innesto {q}\"", "Tubo in poliuretano Ø{m} rotolo 25 m", "Pistola soffiaggio con ugello",
      "Gruppo filtro-riduttore {q}\"", "Avvitatore pneumatico a impulsi 1/2\""]),
    ("CUS", "Cuscinetti e trasmissioni", "PZ", (2, 160),
     ["Cuscinetto a sfere 62{c}{c}-2RS", "Cinghia trapezoidale SPA {l}", "Supporto ritto UCP 2{c}{c}",
      "Catena a rulli 1/2\" passo semplice 5 m"]),
    ("IMB", "Imballaggio", "PZ", (1, 45),
     ["Nastro adesivo avana {m} mm x 66 m", "Film estensibile manuale {l} mm", "Scatola in cartone {l}x{l}x{m}0",
      "Reggetta in PP {m} mm bobina"]),
    ("FER", "Ferramenta", "PZ", (1, 95),
     ["Cerniera a scomparsa {m} mm", "Serratura da infilare interasse {l} mm", "Lucchetto in ottone {m} mm",
      "Maniglia in acciaio inox per porta", "Ruota piroettante Ø{l} con freno"]),
]
