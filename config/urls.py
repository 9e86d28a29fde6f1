from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from usage.urls import product_urlpatterns
from web.health import healthz, metrics, readyz
from web.views import api_docs, api_redoc, home, problem_page

api_v1 = [path("", include(product_urlpatterns)), path("", include("keys.urls")), path("", include("usage.urls"))]

# The API comes first: Django tries the patterns in order and turns a request away from each one
# it does not match, so every API call would otherwise pay for the pages' routes first.
urlpatterns = [
    path("api/v1/", include(api_v1)),
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("accounts/", include("accounts.urls")),
    path("settings/", include("web.urls")),
    path("admin/", admin.site.urls),
    path("api/problems/<slug:code>", problem_page, name="problem"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", api_docs, name="swagger-ui"),
    path("api/redoc/", api_redoc, name="redoc"),
]

handler400 = "core.errors.handler400"
handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"
