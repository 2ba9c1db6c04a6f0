"""docs/configuration.md carries the reference generated from the settings models."""

from __future__ import annotations

from pathlib import Path

from thermogate.config_reference import BEGIN, END, render_reference

DOC = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def test_configuration_reference_matches_the_settings_models():
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(BEGIN), text.index(END) + len(END)
    assert text[start:end] == render_reference(), (
        "docs/configuration.md is stale: regenerate its reference with "
        "`python -m thermogate.config_reference`"
    )


def test_every_setting_has_a_description():
    assert "|  |" not in render_reference()
