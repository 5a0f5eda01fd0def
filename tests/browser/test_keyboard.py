"""The keyboard alone, in a real browser, on the main flows: log in, the dashboard and its skip link, the
batch review (the preview dialog opens with Enter, closes with Escape and gives the focus back; approval),
the campaign editor's toolbar and the contact form. Every visible control is a Tab stop, in document order
(no positive tabindex), the focus is always visible, and Tab always moves on (no trap).

Run alone: `RECAPITO_ENV=testing .venv/bin/pytest tests/browser/test_keyboard.py -q`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser
expect = pytest.importorskip("playwright.sync_api").expect

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "keyboard"
MAX_STOPS = 400  # a page with more Tab stops than this is a trap (or unusable with the keyboard anyway)

# What the focused element is, and whether one sees it: an outline or a box-shadow, and a box on screen.
_ACTIVE_JS = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  const rect = el.getBoundingClientRect();
  const outline = style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0;
  const shadow = style.boxShadow && style.boxShadow !== 'none';
  if (!el.dataset.kbd) el.dataset.kbd = String(Object.keys(window.__kbd = window.__kbd || {}).length + 1);
  window.__kbd[el.dataset.kbd] = true;
  return {key: el.dataset.kbd, tag: el.tagName.toLowerCase(), text: (['INPUT', 'SELECT', 'TEXTAREA'].includes(el.tagName) ? el.name : el.innerText || el.getAttribute('aria-label') || '').trim().slice(0, 60),
          cls: el.className || '', visible: outline || shadow, onscreen: rect.width > 0 && rect.height > 0,
          focusVisible: el.matches(':focus-visible') || (el.tagName === 'IFRAME' && el.classList.contains('frame-focused'))};
}"""
# Controls a keyboard user must reach: visible, enabled, not in a closed dialog or details.
_CONTROLS_JS = """() => [...document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]:not([tabindex="-1"]), [contenteditable=true]')]
  .filter(el => el.getClientRects().length && !el.disabled && !el.closest('[inert], dialog:not([open])')
          && !(el.closest('details:not([open])') && el.tagName !== 'SUMMARY')
          && getComputedStyle(el).visibility !== 'hidden')
  .filter(el => !(el.type === 'radio' && !el.checked && document.querySelector(`input[type=radio][name="${el.name}"]:checked`)))
  .filter(el => !el.closest('[role=toolbar]') || el.tabIndex === 0)
  .map(el => { if (!el.dataset.kbd) el.dataset.kbd = 'u' + Math.random(); return el.dataset.kbd; })"""
_POSITIVE_TABINDEX_JS = "() => [...document.querySelectorAll('[tabindex]')].filter(e => e.tabIndex > 0).map(e => e.outerHTML.slice(0, 120))"


def _active(page):
    """The focused element's description (None when the focus is on the page itself)."""
    return page.evaluate(_ACTIVE_JS)


def _shots(page, name: str) -> None:
    """Screenshots of the viewport (where the focus is) at 1400 and 900 px."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (1400, 900):
        page.set_viewport_size({"width": width, "height": 1000})
        page.screenshot(path=str(SHOTS / f"{name}_{width}.png"))
    page.set_viewport_size({"width": 1400, "height": 1000})


def _top(page) -> None:
    """Put the keyboard's starting point at the top of the page, as after loading it."""
    page.evaluate(
        "() => { const b = document.body; b.tabIndex = -1; b.focus(); b.removeAttribute('tabindex'); window.scrollTo(0, 0); }"
    )


def _walk(page) -> list[dict]:
    """Tab from the top of the page until the focus comes back round: every stop, in order. Fails on a
    stop without a visible focus, off screen, or on a trap (the focus never leaves a group of controls)."""
    page.evaluate("() => document.querySelectorAll('[data-kbd]').forEach(e => delete e.dataset.kbd)")
    _top(page)
    stops: list[dict] = []
    seen: set[str] = set()
    for _ in range(MAX_STOPS):
        page.keyboard.press("Tab")
        now = _active(page)
        if now is None:
            continue  # past the last control: the next Tab starts again from the top
        if now["key"] in seen:
            break  # round again
        seen.add(now["key"])
        assert now["onscreen"], f"{page.url}: il fuoco va su un elemento invisibile: {now}"
        assert now["focusVisible"] and now["visible"], f"{page.url}: fuoco non visibile su {now}"
        stops.append(now)
    else:
        pytest.fail(
            f"{page.url}: {MAX_STOPS} Tab senza tornare all'inizio: trappola per la tastiera? {stops[-5:]}"
        )
    assert page.evaluate(_POSITIVE_TABINDEX_JS) == [], f"{page.url}: tabindex positivo altera l'ordine"
    positions = page.evaluate(
        "keys => { const all = [...document.querySelectorAll('*')];"
        " return keys.map(k => all.indexOf(document.querySelector(`[data-kbd='${k}']`))); }",
        [stop["key"] for stop in stops],
    )
    assert positions == sorted(positions), f"{page.url}: l'ordine dei Tab non segue la pagina: {stops}"
    missing = set(page.evaluate(_CONTROLS_JS)) - seen
    if missing:
        names = page.evaluate(
            "keys => keys.map(k => document.querySelector(`[data-kbd='${k}']`).outerHTML.slice(0, 140))",
            sorted(missing),
        )
        pytest.fail(f"{page.url}: controlli non raggiungibili con Tab: {names}")
    return stops


def _tab_to(page, predicate, limit: int = MAX_STOPS) -> dict:
    """Press Tab until the focused element satisfies `predicate`; return it."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        now = _active(page)
        if now is not None and predicate(now):
            return now
    raise AssertionError(f"{page.url}: nessun elemento raggiunto con Tab soddisfa la condizione")


def _login_with_keyboard(browser, username: str, password: str = PASSWORD, *, succeeds: bool = True) -> None:
    """The login form with the keyboard alone: the name has the focus, Tab to the password, Enter."""
    page = browser.page
    page.goto(f"{browser.base}/auth/login")
    expect(page.locator("input[name=username]")).to_be_focused()  # autofocus, once the page has rendered
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    assert _active(page)["text"] == "password"
    page.keyboard.type(password)
    page.keyboard.press("Enter")
    if succeeds:
        page.wait_for_url(re.compile(r"^(?!.*/auth/login).*$"))


def test_main_flows_with_the_keyboard(app, demo_world, browser):
    """Login (wrong then right), dashboard and skip link, batch review with the preview dialog and
    approval, campaign toolbar, contact form: all with Tab, Enter, Space, arrows and Escape."""
    page = browser.page
    ready_batch = demo_world[0]

    # Login: a wrong password says so and keeps the form usable; then in.
    _login_with_keyboard(browser, "manager", "sbagliata", succeeds=False)
    expect(page.locator("[role=alert]")).to_be_visible()
    stops = _walk(page)
    names = [s["text"] if s["tag"] != "button" else "button" for s in stops]
    assert "skip-link" in stops[0]["cls"], stops[0]
    assert names.index("username") < names.index("password") < names.index("button"), names
    _login_with_keyboard(browser, "manager")

    # Dashboard: the skip link comes first, shows itself, and lands in the main content.
    stops = _walk(page)
    assert "skip-link" in stops[0]["cls"] and stops[1]["tag"] == "a", stops[:3]
    _top(page)
    page.keyboard.press("Tab")
    box = page.locator(".skip-link").bounding_box()
    assert box is not None and box["y"] >= 0, "il link «Vai al contenuto» resta fuori dallo schermo"
    _shots(page, "salta-al-contenuto")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    page.keyboard.press("Tab")
    assert page.evaluate("() => Boolean(document.activeElement.closest('main'))"), (
        "dopo il salto non si è nel contenuto"
    )

    # Batch review: Enter on «Anteprima» opens the dialog with the focus inside, Tab stays inside,
    # Escape closes it and the focus is back on the same «Anteprima».
    page.goto(f"{browser.base}/invii/{ready_batch}")
    _walk(page)
    _top(page)
    opener = _tab_to(page, lambda s: s["text"] == "Anteprima")
    page.keyboard.press("Enter")
    expect(page.locator("#preview-dialog[open] #preview-panel")).not_to_be_empty()
    assert page.evaluate("() => Boolean(document.activeElement.closest('#preview-dialog'))"), (
        "il fuoco non è nel dialogo"
    )
    for _ in range(12):
        page.keyboard.press("Tab")
        inside = page.evaluate(
            "() => document.activeElement === document.body || Boolean(document.activeElement.closest('#preview-dialog'))"
        )
        assert inside, "con il dialogo aperto Tab esce sulla pagina sotto"
        now = _active(page)
        if now is not None:
            assert now["visible"], f"fuoco non visibile nel dialogo: {now}"
    _tab_to(page, lambda s: s["tag"] == "iframe", limit=40)
    _shots(page, "anteprima-cornice")
    # Escape from the dialog's own controls (keys pressed inside the sandboxed message frame stay there).
    _tab_to(page, lambda s: s["text"] == "Chiudi l'anteprima", limit=40)
    page.keyboard.press("Escape")
    expect(page.locator("#preview-dialog")).not_to_have_attribute("open", "")
    assert _active(page)["key"] == opener["key"], "chiuso il dialogo, il fuoco non torna su «Anteprima»"

    # Approval with the keyboard: Tab to the resend confirmation, Space; Tab to «Approva soltanto», Space.
    _top(page)
    _tab_to(page, lambda s: s["text"] == "confirm_resend")
    page.keyboard.press("Space")
    _tab_to(page, lambda s: s["text"] == "Approva soltanto")
    page.keyboard.press("Space")
    expect(page.locator("h1 .badge")).not_to_have_text("Da approvare")
    browser.logout()

    # Campaign editor: the toolbar is one Tab stop; the arrows move inside it; Enter applies and the
    # focus goes back to the text.
    _login_with_keyboard(browser, "commerciale")
    page.goto(f"{browser.base}/campagne/nuova")
    expect(page.locator("#body-editor")).to_be_visible()
    stops = _walk(page)
    in_toolbar = [s for s in stops if s["text"] in ("G", "C", "Link", "• Elenco", "¶ Paragrafo")]
    assert len(in_toolbar) == 1, f"la barra degli strumenti deve essere una sola fermata di Tab: {in_toolbar}"
    _top(page)
    _tab_to(page, lambda s: s["tag"] == "div" and "editor-area" in s["cls"])
    page.keyboard.press("Control+a")
    page.keyboard.type("Buongiorno ")
    for _ in range(15):  # back over the placeholder buttons to the toolbar's one stop, its first button
        page.keyboard.press("Shift+Tab")
        if page.evaluate("() => Boolean(document.activeElement.closest('[role=toolbar]'))"):
            break
    assert page.evaluate("() => document.activeElement.dataset.cmd") == "bold"
    page.keyboard.press("ArrowRight")
    assert page.evaluate("() => document.activeElement.dataset.cmd") == "italic"
    page.keyboard.press("ArrowLeft")
    assert page.evaluate("() => document.activeElement.dataset.cmd") == "bold"
    _shots(page, "barra-strumenti")
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "body-editor"
    page.keyboard.type("tutti")
    expect(page.locator("#body-editor b, #body-editor strong")).to_have_text("tutti")
    browser.logout()

    # Contact form: Space on «Aggiungi contatto» (a link styled as a button) brings the form with the
    # focus in its first field; a wrong address is named, the focus goes to that field, and the form has no trap.
    _login_with_keyboard(browser, "operatore")
    page.goto(f"{browser.base}/anagrafiche/")
    page.locator("main table a[href*='/anagrafiche/']").first.click()
    page.wait_for_load_state("networkidle")
    _walk(page)
    _top(page)
    _tab_to(page, lambda s: s["text"] == "Aggiungi contatto")
    page.keyboard.press(
        "Space"
    )  # a link that looks like a button works like one (Enter works on links anyway)
    expect(page.locator("#contact-new")).to_be_visible()
    expect(page.locator("#contact-new input[name=name]")).to_be_focused()
    page.keyboard.type("Ufficio prova")
    _tab_to(page, lambda s: s["text"] == "email", limit=5)
    page.keyboard.type("prova@dominio")
    _tab_to(page, lambda s: s["tag"] == "button" and s["text"].startswith("Salva"))
    page.keyboard.press("Enter")
    expect(page.locator("#contact-new .form-error")).to_be_visible()
    expect(page.locator("#contact-new input[name=email]")).to_be_focused()
    _shots(page, "contatto-errore")
    _walk(page)
    # «Annulla» drops the form and the focus goes back to «Aggiungi contatto», not to the top of the page.
    page.locator("#contact-new input[name=email]").focus()
    _tab_to(page, lambda s: s["text"] == "Annulla")
    page.keyboard.press("Enter")
    expect(page.locator("#contact-new")).to_have_count(0)
    expect(page.locator("a[data-opens-contact-form]")).to_be_focused()
    assert browser.csp_violations() == []
