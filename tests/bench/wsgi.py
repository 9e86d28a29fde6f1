"""The bench servers' WSGI entry point: Keyhouse's own (config.wsgi), with the floor row in
front of it. /bench/hello answers from plain WSGI, before Django, in the same gunicorn worker
with the same config, so what gunicorn and the kernel cost alone is on the page."""
from config.wsgi import application as keyhouse

HELLO = b'{"hello": "world"}'
HELLO_HEADERS = [("Content-Type", "application/json"), ("Content-Length", str(len(HELLO)))]


def application(environ, start_response):
    if environ.get("PATH_INFO") == "/bench/hello":
        start_response("200 OK", HELLO_HEADERS)
        return [HELLO]
    return keyhouse(environ, start_response)
