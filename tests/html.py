"""Pages read through an HTML parser (BeautifulSoup), as a browser would, not with regexes:
attribute order, quoting, whitespace and nesting do not change what a test sees."""
import re

from bs4 import BeautifulSoup, Tag

# How a moment a few seconds old reads in Django's naturaltime ("now", "a second ago",
# "3 seconds ago"): a slow machine may take seconds between an event and the page that shows it.
JUST_NOW = re.compile(r"^(now|a\s+second\s+ago|\d+\s+seconds\s+ago)$")


def soup(page) -> BeautifulSoup:
    """A response, or HTML text, parsed."""
    if isinstance(page, Tag):
        return page
    html = page if isinstance(page, str) else page.content.decode()
    return BeautifulSoup(html, "html.parser")


def select(page, css: str) -> list[Tag]:
    return soup(page).select(css)


def select_one(page, css: str) -> Tag:
    """The one element the selector names: an assertion error, naming it, when there is none."""
    found = soup(page).select_one(css)
    assert found is not None, f"nothing matches {css!r}"
    return found


def text(node: Tag) -> str:
    """What a person reads in the element: its text, whitespace collapsed."""
    return " ".join(node.get_text(" ").split())


def texts(page, css: str) -> list[str]:
    return [text(node) for node in select(page, css)]


def inline_text(node: Tag) -> str:
    """The text of a run of inline elements as it reads, nothing added where a tag ends:
    "<code>all</code>: every area" is "all: every area" (text() would give "all : every area")."""
    return " ".join(node.get_text().split())
