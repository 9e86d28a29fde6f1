"""Compressed HTML pages, except the ones that carry a secret.

BREACH: with compression on, the size of a response that holds a secret and some text an
attacker chose leaks the secret a byte at a time. A dashboard page holds two kinds of secret:
the CSRF token, which Django masks anew on every response (so there is nothing stable to
guess), and a raw API key, which appears only in the response to the POST that made it,
marked `Cache-Control: no-store`. So pages are gzipped (Django also pads each one with
random bytes) and no-store responses are sent as they are. JSON is left to the API and
static files to WhiteNoise, which serves them precompressed."""
from django.middleware.gzip import GZipMiddleware


class HtmlGZipMiddleware(GZipMiddleware):
    def process_response(self, request, response):
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        if "no-store" in response.get("Cache-Control", ""):
            return response
        return super().process_response(request, response)
