// Campaign text editor: paragraphs, bold, italic, links, bulleted lists and placeholder buttons over the
// body_html textarea, which stays the form field (and the «Modifica HTML» mode). The editor only keeps the
// tags it can make (ALLOWED); HTML with anything else stays in HTML mode, untouched. The server checks
// the result anyway (sandbox + unsafe HTML check) before preview and sending.
(function () {
  "use strict";
  var ALLOWED = { P: [], BR: [], B: [], STRONG: [], I: [], EM: [], A: ["href"], UL: [], OL: [], LI: [] };
  var SAFE_URL = /^(https?:|mailto:|\{\{)/i;
  // Jinja expressions, statements and comments: kept verbatim through the round trip (`{% if x < 3 %}`
  // must not come back as `{% if x &lt; 3 %}`, which the template engine cannot read).
  var JINJA = /(\{\{[\s\S]*?\}\}|\{%[\s\S]*?%\}|\{#[\s\S]*?#\})/;

  // `text` escaped for HTML by `escape`, except the Jinja blocks in it, which stay as written.
  function escapeOutsideJinja(text, escape) {
    return text.split(JINJA).map(function (part, i) { return i % 2 ? part : escape(part); }).join("");
  }

  function escapeText(text) {
    return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/\u00a0/g, "&nbsp;");
  }

  function escapeAttribute(text) {
    return text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/\u00a0/g, "&nbsp;");
  }

  // The editor's nodes as HTML source (what innerHTML gives, but with the Jinja blocks verbatim).
  function toSource(parent) {
    var out = "";
    for (var node = parent.firstChild; node; node = node.nextSibling) {
      if (node.nodeType === Node.TEXT_NODE) {
        out += escapeOutsideJinja(node.nodeValue, escapeText);
      } else if (node.nodeType === Node.ELEMENT_NODE) {
        var tag = node.tagName.toLowerCase();
        out += "<" + tag;
        for (var i = 0; i < node.attributes.length; i++) {
          var attr = node.attributes[i];
          out += " " + attr.name + '="' + escapeOutsideJinja(attr.value, escapeAttribute) + '"';
        }
        out += ">";
        if (tag !== "br") { out += toSource(node) + "</" + tag + ">"; }
      }
    }
    return out;
  }

  // A copy of the nodes with only the allowed tags and attributes; null when something would be lost.
  function cleanCopy(source, target) {
    for (var node = source.firstChild; node; node = node.nextSibling) {
      if (node.nodeType === Node.TEXT_NODE) {
        target.appendChild(document.createTextNode(node.nodeValue));
      } else if (node.nodeType === Node.ELEMENT_NODE) {
        var keep = ALLOWED[node.tagName];
        if (!keep) { return null; }
        var copy = document.createElement(node.tagName.toLowerCase());
        for (var i = 0; i < node.attributes.length; i++) {
          var attr = node.attributes[i];
          if (keep.indexOf(attr.name) < 0) { return null; }
          if (attr.name === "href" && !SAFE_URL.test(attr.value.trim())) { return null; }
          copy.setAttribute(attr.name, attr.value);
        }
        if (cleanCopy(node, copy) === null) { return null; }
        target.appendChild(copy);
      } else if (node.nodeType !== Node.COMMENT_NODE) {
        return null;
      }
    }
    return target;
  }

  // The editor's content from HTML source, or null when the editor cannot show it faithfully.
  function fromHtml(html) {
    // Inside Jinja blocks `<`, `>` and `&` are text, never markup: `{% if a<b %}` must not open a tag.
    var protectedHtml = html.split(JINJA).map(function (part, i) {
      return i % 2 ? part.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;") : part;
    }).join("");
    var doc = new DOMParser().parseFromString("<body>" + protectedHtml + "</body>", "text/html");
    return cleanCopy(doc.body, document.createDocumentFragment());
  }

  function setup(root) {
    var area = root.querySelector(".editor-area");
    var textarea = root.querySelector("textarea[name=body_html]");
    var toggle = root.querySelector("[data-html-toggle]");
    var note = root.querySelector("[data-editor-note]");
    var editorParts = root.querySelectorAll("[data-editor-only]");
    var htmlLabel = root.querySelector(".editor-html");
    var mode = "html";

    function show(newMode) {
      mode = newMode;
      editorParts.forEach(function (el) { el.hidden = mode !== "editor"; });
      textarea.hidden = mode === "editor";
      htmlLabel.hidden = mode === "editor";
      toggle.setAttribute("aria-pressed", mode === "html" ? "true" : "false");
      toggle.textContent = mode === "html" ? "Torna all'editor" : "Modifica HTML";
    }

    function toEditor() {
      var content = fromHtml(textarea.value);
      if (content === null) {
        note.textContent = "Questo testo usa HTML che l'editor non gestisce (tabelle, stili, immagini…): " +
          "modificalo qui come HTML.";
        note.hidden = false;
        return false;
      }
      note.hidden = true;
      area.replaceChildren(content);
      show("editor");
      return true;
    }

    function sync() {
      textarea.value = toSource(area);
      document.body.dispatchEvent(new CustomEvent("editor-change"));
    }

    function insertText(text) {
      area.focus();
      document.execCommand("insertText", false, text);
    }

    root.querySelectorAll("[data-cmd]").forEach(function (button) {
      button.addEventListener("mousedown", function (event) { event.preventDefault(); });
      button.addEventListener("click", function () {
        var cmd = button.getAttribute("data-cmd");
        area.focus();
        if (cmd === "createLink") {
          var url = window.prompt("Indirizzo del link (https://…, mailto:…)", "https://");
          if (url === null) { return; }
          url = url.trim();
          if (!/^(https?:\/\/|mailto:)\S+$/i.test(url)) {
            window.alert("Indirizzo non valido: deve cominciare con https://, http:// o mailto:");
            return;
          }
          if (window.getSelection().isCollapsed) { insertText(url); return; }
          document.execCommand("createLink", false, url);
        } else if (cmd === "paragraph") {
          document.execCommand("formatBlock", false, "p");
        } else {
          document.execCommand(cmd, false, null);
        }
        sync();
      });
    });
    // The toolbar is one Tab stop (WAI-ARIA toolbar): the arrows, Home and End move between its buttons.
    var tools = Array.prototype.slice.call(root.querySelectorAll("[role=toolbar] button"));
    tools.forEach(function (button, i) {
      button.tabIndex = i === 0 ? 0 : -1;
      button.addEventListener("keydown", function (event) {
        var next = { ArrowRight: i + 1, ArrowDown: i + 1, ArrowLeft: i - 1, ArrowUp: i - 1, Home: 0, End: tools.length - 1 }[event.key];
        if (next === undefined) { return; }
        event.preventDefault();
        next = (next + tools.length) % tools.length;
        tools.forEach(function (other, j) { other.tabIndex = j === next ? 0 : -1; });
        tools[next].focus();
      });
    });
    root.querySelectorAll("[data-insert]").forEach(function (button) {
      button.addEventListener("mousedown", function (event) { event.preventDefault(); });
      button.addEventListener("click", function () {
        insertText(button.getAttribute("data-insert"));
        sync();
      });
    });
    area.addEventListener("input", sync);
    area.addEventListener("paste", function (event) {
      // Pasted text comes in as plain text: no foreign markup, styles or scripts from other programs.
      event.preventDefault();
      insertText((event.clipboardData || window.clipboardData).getData("text/plain"));
    });
    toggle.addEventListener("click", function () {
      if (mode === "editor") { sync(); show("html"); textarea.focus(); }
      else if (toEditor()) { area.focus(); }
    });
    document.execCommand("defaultParagraphSeparator", false, "p");
    toggle.hidden = false;
    if (!toEditor()) { show("html"); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-rich-editor]").forEach(setup);
  });
})();
