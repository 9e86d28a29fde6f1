"""Refuses a chunked request body under /api/ with 411, before any view reads it.

Django reads a body by its Content-Length: a chunked one would be taken as empty, and a PUT
of limits as "no limits". One job, so it sits in MIDDLEWARE on its own, ahead of everything
that might read the body.
"""
from core.errors import problem_response, wants_json


class ChunkedBodyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if wants_json(request) and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            return problem_response(request, "length_required", "Send the body with a Content-Length header; "
                                    "a chunked body is not read. Nothing was changed.")
        return self.get_response(request)
