"""Is a campaign body safe HTML? No script, frames, forms or styles blocks, no event handlers, no script URLs.

The editor on the campaign page only makes paragraphs, bold, italic, links and lists; the «Modifica HTML»
mode lets people write more, and this check holds for both (the sandbox checks the placeholders)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

FORBIDDEN_TAGS = frozenset(
    {
        "script",
        "style",
        "iframe",
        "frame",
        "frameset",
        "object",
        "embed",
        "applet",
        "form",
        "input",
        "button",
        "select",
        "textarea",
        "link",
        "meta",
        "base",
        "svg",
        "math",
        "template",
    }
)
URL_ATTRIBUTES = frozenset({"href", "src", "action", "formaction", "background", "poster", "xlink:href"})
SAFE_SCHEMES = re.compile(r"^(https?:|mailto:|tel:|#|/|\{\{|[^:]*$)", re.I)


class _Finder(HTMLParser):
    """Collects the first unsafe thing of a document (tag, attribute or URL)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problem: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Check one opening tag and its attributes."""
        if self.problem:
            return
        line = self.getpos()[0]
        if tag in FORBIDDEN_TAGS:
            self.problem = f"Riga {line}: il testo non può contenere il tag <{tag}>."
            return
        for name, value in attrs:
            if name.startswith("on"):
                self.problem = f"Riga {line}: il testo non può contenere gestori di eventi ({name})."
                return
            url = re.sub(r"[\s\x00-\x1f]+", "", value or "")
            if name in URL_ATTRIBUTES and not SAFE_SCHEMES.match(url):
                self.problem = (
                    f"Riga {line}: il link «{(value or '')[:60]}» non è ammesso "
                    "(solo indirizzi http, https, mailto o tel)."
                )
                return

    handle_startendtag = handle_starttag


def unsafe_html(source: str) -> str | None:
    """The first reason why the HTML is unsafe to send (Italian, with the line), or None."""
    finder = _Finder()
    finder.feed(source or "")
    finder.close()
    return finder.problem
