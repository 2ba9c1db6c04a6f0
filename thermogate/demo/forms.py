"""The forms of an HTML page, as a browser sees them: action, attributes and fields.

The demo's clinic robot uses it to work the desk and the signed-link pages over plain HTTP
the way a person's browser does: read the page, fill in the form, post it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Form:
    """One ``<form>``: its attributes and the fields it would submit as they stand."""

    attrs: dict[str, str]
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def action(self) -> str:
        """Where it posts."""
        return self.attrs.get("action", "")


class _FormParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self._open: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._open = Form(values)
            self.forms.append(self._open)
        elif self._open is not None and tag in ("input", "select", "textarea") and "name" in values:
            self._open.fields.setdefault(values["name"], values.get("value", ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None


def forms_of(html: str) -> list[Form]:
    """Every form of ``html``, in page order."""
    parser = _FormParser()
    parser.feed(html)
    parser.close()
    return parser.forms
