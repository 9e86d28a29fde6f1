from csp.constants import NONCE, SELF
from csp.decorators import csp_update
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView

from core.errors import PROBLEMS, handler404, problem_type


@csrf_exempt  # read-only: a POST gets the 405 problem, not the CSRF page
@require_GET
def problem_page(request, code):
    """What the `type` URL of a problem documents: its title, its status and what to do. Public,
    like the schema: a script that got the problem already holds the URL."""
    problem = PROBLEMS.get(code)
    if problem is None:
        return handler404(request)
    return JsonResponse({"type": problem_type(request, code), "code": code, "title": problem.title,
                         "status": problem.status, "description": problem.description})


@login_required
def home(request):
    """People come to Keyhouse to manage their keys, so that page is the front page."""
    return redirect("dashboard:key-list")


EMPTY_SHA256 = "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
REDOC_SCROLLBAR_CSS_SHA256 = "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='"

# The API reference pages run third-party bundles (drf-spectacular-sidecar, served from here)
# under the site's Content-Security-Policy, widened on these pages only, by what each needs
# (docs/security.md). Swagger UI is the split view: its start-up script is a second GET of
# the same URL (?script) instead of an inline script.
api_docs = csp_update({
    # Swagger UI's stylesheet draws its icons as data: SVG images.
    "img-src": [SELF, "data:"],
})(SpectacularSwaggerSplitView.as_view(url_name="schema"))

api_redoc = csp_update({
    "style-src": [
        SELF,
        # Redoc writes its styles as <style> elements and puts the page's nonce on them
        # (static/js/redoc-init.js): those are allowed, not inline style at large.
        NONCE,
        # Except one, which the bundle writes as it loads, before it knows the nonce: the
        # stylesheet of its scrollbars (perfect-scrollbar), allowed by its hash, and the empty
        # <style> it is written into. A new Redoc (drf-spectacular-sidecar) may change it; the
        # browser tests then fail and Chromium's message names the hash to put here.
        REDOC_SCROLLBAR_CSS_SHA256,
        EMPTY_SHA256,
    ],
    # Redoc's icons are data: SVG images.
    "img-src": [SELF, "data:"],
    # Redoc builds its search index in a web worker it starts from a blob: URL.
    "worker-src": ["blob:"],
})(SpectacularRedocView.as_view(url_name="schema"))
