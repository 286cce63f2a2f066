"""Jinja2 templates kept as files: templates/<name>/<channel>.<locale>.txt.j2 (blocks `subject`, `body`)
and, for email, templates/<name>/email.<locale>.html.j2 (autoescaped). A missing variable is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateNotFound, UndefinedError, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

TEMPLATES_DIR = Path(__file__).parent / "templates"


class TemplateMissingError(LookupError):
    pass


class VariableMissingError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    subject: str | None = None
    html: str | None = None
    locale: str = "en"


def locale_chain(locale: str, fallback: str) -> list[str]:
    chain = [locale, locale.split("-", maxsplit=1)[0], fallback, fallback.split("-", maxsplit=1)[0]]
    return list(dict.fromkeys(chain))


class Templates:
    def __init__(self, directory: Path = TEMPLATES_DIR, fallback_locale: str = "en") -> None:
        self.fallback_locale = fallback_locale
        self._env = ImmutableSandboxedEnvironment(
            loader=FileSystemLoader(directory),
            undefined=StrictUndefined,
            autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False, default=False),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )

    def _find(self, name: str, channel: str, locale: str, kind: str) -> tuple[Template, str] | None:
        for candidate in locale_chain(locale, self.fallback_locale):
            try:
                return self._env.get_template(f"{name}/{channel}.{candidate}.{kind}.j2"), candidate
            except TemplateNotFound:
                continue
        return None

    def render(self, name: str, channel: str, locale: str, variables: Mapping[str, Any]) -> Rendered:
        found = self._find(name, channel, locale, "txt")
        if found is None:
            raise TemplateMissingError(f"no template {name!r} for channel {channel!r} (locale {locale!r} or fallback)")
        template, used = found
        try:
            context = template.new_context(dict(variables))
            blocks = {block: "".join(render(context)).strip() for block, render in template.blocks.items()}
            html = None
            if channel == "email":
                html_found = self._find(name, channel, used, "html")
                html = html_found[0].render(variables) if html_found else None
        except UndefinedError as error:
            raise VariableMissingError(f"template {name!r} needs a variable: {error.message}") from None
        if "body" not in blocks:
            raise TemplateMissingError(f"template {name}/{channel}.{used} has no body block")
        return Rendered(text=blocks["body"], subject=blocks.get("subject"), html=html, locale=used)
