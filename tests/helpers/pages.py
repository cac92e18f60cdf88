"""The links of a page that opens from the results folder, each checked: relative, and naming a file that exists."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote


class _Links(HTMLParser):
    """Every ``src`` / ``href`` of a page, with its tag."""

    def __init__(self):
        super().__init__()
        self.links: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.links += [(tag, value) for name, value in attrs if name in ("src", "href") and value]


def checked_links(page: Path) -> list[tuple[str, str]]:
    """``[(tag, url)]`` of the page's links but anchors; asserts each is relative (no scheme, no leading ``/``) and
    names an existing file, and that no absolute path of the results folder's parent is written in the page."""
    parser = _Links()
    text = page.read_text()
    parser.feed(text)
    links = [(tag, url) for tag, url in parser.links if not url.startswith("#")]
    for tag, url in links:
        assert not re.match(r"^([a-z]+:|/)", url), f"{page}: absolute link {url}"
        assert (page.parent / unquote(url)).is_file(), f"{page}: {tag} links to a missing file {url}"
    assert str(page.parent.parent.absolute()) not in text, f"{page}: an absolute path in the page"
    return links


def shown_files(page: Path, tags=("img", "video")) -> set[str]:
    """The files the page shows (``img`` and ``video`` sources), relative to its folder."""
    return {unquote(url) for tag, url in checked_links(page) if tag in tags}
