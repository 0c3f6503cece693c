"""MkDocs hooks: README.md is the site's front page, and links to repository files outside
``docs/`` (examples, tools, deploy) stay checked: one that exists becomes plain text on the site,
one that does not is left for ``mkdocs build --strict`` to refuse."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
_LINK = re.compile(r"(!?)\[([^\]]+)\]\(([^)\s]+)\)")


def _relink(markdown: str, base: Path) -> str:
    """Rewrite the relative links of a page whose links are relative to ``base``."""

    def one(match: re.Match[str]) -> str:
        bang, text, target = match[1], match[2], match[3]
        if re.match(r"[a-z]+:|#", target):
            return match[0]
        path, _, anchor = target.partition("#")
        file = (base / path).resolve()
        if file.is_relative_to(DOCS):
            rel = file.relative_to(DOCS).as_posix()
            return f"{bang}[{text}]({rel}{'#' + anchor if anchor else ''})"
        if not bang and file.is_relative_to(ROOT) and file.exists():
            return text  # a file of the repository, not of the site
        return match[0]

    return _LINK.sub(one, markdown)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """The front page is the README; every page's links to repository files are resolved."""
    if page.file.src_uri == "index.md":
        return _relink((ROOT / "README.md").read_text(encoding="utf-8"), ROOT)
    return _relink(markdown, (DOCS / page.file.src_uri).parent)
