"""One page shape for every list: {items, total, page, page_size, total_pages}."""
import math

from rest_framework.response import Response

from core.parsing import ascii_int

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200


def _positive_int(request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    return ascii_int(raw, name=name, low=1, code="invalid_pagination")


class PagePagination:
    """Pages past the last one are empty rather than an error, so a script can loop until
    `items` is empty or `page == total_pages`; page_size is capped at 200."""

    def paginate(self, request, queryset) -> dict:
        page = _positive_int(request, "page", 1)
        page_size = min(_positive_int(request, "page_size", DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
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
