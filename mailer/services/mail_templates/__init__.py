"""E-mail templates per document type: sandboxed rendering, save-time validation, versions, context.

What the Batches area calls (re-exported here; the modules below hold them):

- ``build_context(documents, contact=None, party=None, user=None, account=None, language=None) -> dict``
  (``context``)
- ``current_version(type_code, language) -> TemplateVersion`` (creates the default v1 when missing)
  (``versions``)
- ``snapshot_versions(type_codes) -> {"FATTURA": {"it": 12, "en": 13}, ...}`` for ``Batch.template_versions``
  (``versions``)
- ``render_for(type_code, language, context, version=None, account=None) -> RenderedMail`` (``rendering``)
- ``template_language(party) -> "it" | "en"`` (``context``)

Templates are Jinja run in an ``ImmutableSandboxedEnvironment`` with no loader (no include,
import, extends), a short list of filters, no ``set``/``macro``/``autoescape`` tags, a budget
of loop iterations and a bounded output (``sandbox``). Placeholders are checked at save time
against ``SCHEMA`` (``schema``; unknown names are reported with their line) and the template is
test-rendered against a complete and a sparse sample (``checker``), so it cannot fail later at
send time.

Modules, one job each: ``errors``, ``schema``, ``sandbox``, ``checker``, ``context``, ``versions``,
``signatures``, ``rendering``, ``type_settings``, ``preview`` (what the editor previews on) and
``defaults`` (the texts of version 1). The editor's own helpers (``preview``, ``versions.latest_versions``
…) are imported from their modules, not from here.
"""

from __future__ import annotations

from jinja2 import TemplateSyntaxError

from .checker import (
    ANY,
    FORBIDDEN_NODES,
    PROMOTIONAL_WORDS,
    Checker,
    compile_checked,
    compiled,
    italian,
    promotional,
    render_error,
    validate_template,
    wrap_loops,
)
from .context import (
    build_context,
    company_context,
    contact_context,
    document_context,
    party_context,
    sample_context,
    template_language,
)
from .errors import (
    FIELD_NAMES,
    TemplateError,
    TemplateLimitError,
    TemplateOutputError,
    TemplateValidationError,
)
from .rendering import (
    RenderedMail,
    html_to_text,
    markup_lines,
    render_draft,
    render_for,
    render_source,
    render_version,
)
from .sandbox import (
    ENVS,
    GLOBAL_NAMES,
    MAX_LOOP_DEPTH,
    MAX_LOOP_ITERATIONS,
    MAX_OUTPUT_CHARS,
    MAX_RANGE,
    MAX_SEQUENCE_PRODUCT,
    MAX_SOURCE_CHARS,
    MAX_SUBJECT_CHARS,
    SAFE_FILTERS,
    SAFE_METHODS,
    RecapitoSandbox,
    field_kind,
    run,
)
from .schema import (
    DOCUMENTO,
    EXTRA_ITEM_KEYS,
    PARTITA,
    PLACEHOLDER_GROUPS,
    RIGA,
    SCADENZA,
    SCHEMA,
    placeholder_groups,
    placeholder_rows,
)
from .signatures import MAX_SIGNATURE_CHARS, default_signature_html, signature_for, validate_signature
from .type_settings import SENDING_SETTINGS, sending_accounts, sending_settings, update_sending_settings
from .versions import current_version, ensure_default_templates, get_template, save_version, snapshot_versions

__all__ = [
    "ANY",
    "DOCUMENTO",
    "ENVS",
    "EXTRA_ITEM_KEYS",
    "FIELD_NAMES",
    "FORBIDDEN_NODES",
    "GLOBAL_NAMES",
    "MAX_LOOP_DEPTH",
    "MAX_LOOP_ITERATIONS",
    "MAX_OUTPUT_CHARS",
    "MAX_RANGE",
    "MAX_SEQUENCE_PRODUCT",
    "MAX_SIGNATURE_CHARS",
    "MAX_SOURCE_CHARS",
    "MAX_SUBJECT_CHARS",
    "PARTITA",
    "PLACEHOLDER_GROUPS",
    "PROMOTIONAL_WORDS",
    "RIGA",
    "SAFE_FILTERS",
    "SAFE_METHODS",
    "SCADENZA",
    "SCHEMA",
    "SENDING_SETTINGS",
    "Checker",
    "RecapitoSandbox",
    "RenderedMail",
    "TemplateError",
    "TemplateLimitError",
    "TemplateOutputError",
    "TemplateSyntaxError",
    "TemplateValidationError",
    "build_context",
    "company_context",
    "compile_checked",
    "compiled",
    "contact_context",
    "current_version",
    "default_signature_html",
    "document_context",
    "ensure_default_templates",
    "field_kind",
    "get_template",
    "html_to_text",
    "italian",
    "markup_lines",
    "party_context",
    "placeholder_groups",
    "placeholder_rows",
    "promotional",
    "render_draft",
    "render_error",
    "render_for",
    "render_source",
    "render_version",
    "run",
    "sample_context",
    "save_version",
    "sending_accounts",
    "sending_settings",
    "signature_for",
    "snapshot_versions",
    "template_language",
    "update_sending_settings",
    "validate_signature",
    "validate_template",
    "wrap_loops",
]
