"""List pages. Most lists page by number: {items, total, page, page_size, total_pages}.

Lists that grow while they are read (audit events, the request log) page by cursor instead:
{items, has_more, next}, where `next` is an opaque cursor naming the last item returned, and
the next page starts strictly after it in the list's order (created_at, id), newest first; it
is signed for its list and filters, and any other list refuses it (400 `invalid_cursor`). A
row added meanwhile sorts before the cursor, so no item is repeated or skipped, as page numbers
did when a new event pushed every item one place down. `page` still works there for one release
(its answer carries `next` too, to switch over, and a `total` counted up to COUNT_CAP), but
not together with `cursor`: which should win is a guess, so the mix is refused.
"""
import base64
import binascii
import math
from datetime import datetime
from urllib.parse import urlencode

from django.core import signing
from django.db.models import Q
from rest_framework.response import Response

from core.errors import BadParameter
from core.parsing import ascii_int

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_CURSOR_LENGTH = 200
# Cursor lists count `total` up to this many items; past it `total` is a lower bound and
# `total_capped` is true. 200 pages of the default size.
COUNT_CAP = 10_000


def _positive_int(request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    return ascii_int(raw, name=name, low=1, code="invalid_pagination")


def _page_size(request) -> int:
    return min(_positive_int(request, "page_size", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)


class PagePagination:
    """Pages past the last one are empty rather than an error, so a script can loop until
    `items` is empty or `page == total_pages`; page_size is capped at 200."""

    def paginate(self, request, queryset) -> dict:
        page = _positive_int(request, "page", 1)
        page_size = _page_size(request)
        total = queryset.count()
        start = (page - 1) * page_size
        return {
            "items": list(queryset[start : start + page_size]) if start < total else [],
            "total": total,
            "page": page,
            "page_size": page_size,
            "total_pages": math.ceil(total / page_size) if total else 0,
        }

    def response(self, request, queryset, serializer_class, **extra) -> Response:
        page = self.paginate(request, queryset)
        page["items"] = serializer_class(page["items"], many=True).data
        return Response({**extra, **page})


# Query parameters that move through a list rather than choose it.
PAGING_PARAMETERS = frozenset({"cursor", "page", "page_size"})


def _signer(request) -> signing.Signer:
    """Signs cursors for one list: its path (the route and the object it lists) and its filters
    are the salt, so a cursor of another list, or of this one with other filters, or edited,
    fails the check instead of being read as a position in this list."""
    filters = sorted((name, value) for name, values in request.query_params.lists() if name not in PAGING_PARAMETERS
                     for value in values)
    return signing.Signer(salt=f"core.pagination.cursor|{request.path}|{urlencode(filters)}", sep=".")


def cursor_encode(request, item) -> str:
    raw = f"{item.created_at.isoformat()}|{item.pk}".encode()
    return _signer(request).sign(base64.urlsafe_b64encode(raw).decode().rstrip("="))


def cursor_decode(request, cursor: str) -> tuple[datetime, int]:
    try:
        if len(cursor) > MAX_CURSOR_LENGTH:
            raise ValueError
        value = _signer(request).unsign(cursor)
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        moment, _, pk = raw.partition("|")
        created_at = datetime.fromisoformat(moment)
        if created_at.tzinfo is None or not pk.isascii() or not pk.isdigit():
            raise ValueError
        return created_at, int(pk)
    except (ValueError, UnicodeDecodeError, binascii.Error, signing.BadSignature):
        raise BadParameter("cursor is not one this list gave out with these filters: pass the `next` of the "
                           "previous page with the same filters, or leave it out to start from the newest "
                           "item.", code="invalid_cursor", name="cursor", detail="not a cursor of this list") from None


class CursorPagination:
    """Keyset pages over a queryset ordered by ("-created_at", "-id"). No page costs more than
    its rows: a cursor page starts at its cursor in the (…, created_at) index, and the first
    page (and a deprecated `page`) counts `total` only up to COUNT_CAP rows, saying so with
    `total_capped` (a request log of a million rows would otherwise be counted on every first
    page, docs/benchmarks.md)."""

    def response(self, request, queryset, serializer_class, **extra) -> Response:
        params = request.query_params
        cursor = params.get("cursor", "")
        if cursor and params.get("page", "") != "":
            raise BadParameter("Send either cursor or page, not both: cursor continues where the previous "
                               "page ended, page counts from the newest item.", code="invalid_pagination",
                               name="cursor", errors=[{"parameter": "cursor", "detail": "not together with page"},
                                                      {"parameter": "page", "detail": "not together with cursor"}])
        page_size = _page_size(request)
        if not cursor:
            page = _positive_int(request, "page", 1)
            start = (page - 1) * page_size
            items = list(queryset[start : start + page_size + 1])
            has_more, items = len(items) > page_size, items[:page_size]
            if items and not has_more:  # the last page: its end is the count
                total, capped = start + len(items), False
            else:
                # In the list's order, though any rows would do: on the request log that order
                # is the key's index's own, so the count walks it and stops at the cap. Without
                # it PostgreSQL takes a sequential scan for a key holding most of the table, and
                # reads whatever comes first in it (other keys' rows, rows older than the window).
                total = queryset[: COUNT_CAP + 1].count()
                capped = total > COUNT_CAP
                if capped:  # at least this many: what the count reached, or this page's end if further
                    total = max(COUNT_CAP, start + len(items) + 1)
            body = {"items": serializer_class(items, many=True).data, "total": total, "total_capped": capped,
                    "page": page, "page_size": page_size, "total_pages": math.ceil(total / page_size)}
        else:
            created_at, pk = cursor_decode(request, cursor)
            # created_at__lte bounds the index scan at the cursor; the rest breaks ties by id.
            after = queryset.filter(Q(created_at__lt=created_at) | Q(created_at=created_at, pk__lt=pk),
                                    created_at__lte=created_at)
            items = list(after[: page_size + 1])
            has_more, items = len(items) > page_size, items[:page_size]
            body = {"items": serializer_class(items, many=True).data, "page_size": page_size}
        body.update(has_more=has_more, next=cursor_encode(request, items[-1]) if has_more and items else None)
        return Response({**extra, **body})
