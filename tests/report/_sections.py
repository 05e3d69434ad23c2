"""Read a warmstart report the way the tests check it: text and image count of each ``<section id=...>``."""

from __future__ import annotations

from html.parser import HTMLParser


class Sections(HTMLParser):
    """Text and image count of each ``<section id=...>`` of a report."""

    def __init__(self) -> None:
        super().__init__()
        self.text: dict[str, str] = {}
        self.images: dict[str, int] = {}
        self._at: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "section":
            self._at = str(dict(attrs)["id"])
            self.text[self._at], self.images[self._at] = "", 0
        elif tag == "img" and self._at:
            self.images[self._at] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "section":
            self._at = None

    def handle_data(self, data: str) -> None:
        if self._at:
            self.text[self._at] += data


def sections(html: str) -> Sections:
    """Parse a report's HTML."""
    p = Sections()
    p.feed(html)
    return p
