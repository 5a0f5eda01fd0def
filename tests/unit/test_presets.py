"""Provider presets: every one documented, PEC ones with the certified-system domains of reference.PEC_PROVIDERS."""

from __future__ import annotations

import pytest

from mailer.reference import PEC_PROVIDERS
from mailer.services.presets import PRESETS, apply_preset

REQUIRED = {
    "generic",
    "microsoft365",
    "google",
    "aruba",
    "aruba_pec",
    "register",
    "register_pec",
    "legalmail",
    "poste_pec",
    "namirial_pec",
}


def test_the_required_presets_exist():
    assert set(PRESETS) >= REQUIRED


@pytest.mark.parametrize("code", sorted(REQUIRED - {"generic"}))
def test_each_preset_is_complete(code):
    preset = PRESETS[code]
    assert preset.host and 1 <= preset.port <= 65535 and preset.tls_mode in ("starttls", "ssl")
    assert preset.source
    for key in ("rate_per_minute", "rate_per_day", "max_recipients", "max_message_mb"):
        assert getattr(preset, key) and getattr(preset, key) > 0


@pytest.mark.parametrize("code", sorted(c for c in REQUIRED if c.endswith("pec") or c == "legalmail"))
def test_pec_presets_take_system_domains_from_the_reference_list(code):
    preset = PRESETS[code]
    known = {name: system for name, _boxes, system, _src in PEC_PROVIDERS}
    assert preset.kind == "pec"
    assert preset.pec_system_domains == known[preset.pec_provider] and preset.pec_system_domains
    assert preset.form_values()["pec_system_domains"].split("\n") == list(known[preset.pec_provider])


def test_oauth_providers_carry_their_auth_kind_only_where_the_model_has_it():
    base = {"name": "Posta", "host": "vecchio.example"}
    with_field = apply_preset(base, "microsoft365", has_auth_kind=True)
    assert with_field["auth_kind"] == "ms_app" and with_field["host"] == "smtp.office365.com"
    assert with_field["name"] == "Posta"
    assert "auth_kind" not in apply_preset(base, "google", has_auth_kind=False)
    assert PRESETS["google"].auth_kind.startswith("google_")
    assert apply_preset(base, "sconosciuto", has_auth_kind=True) == base
