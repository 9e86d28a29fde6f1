from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from accounts.urls import api_urlpatterns as account_api_urlpatterns
from accounts.urls import settings_urlpatterns as account_settings_urlpatterns
from config.health import healthz, metrics, readyz
from config.views import api_docs, api_redoc, home, problem_page

api_v1 = [*account_api_urlpatterns, path("", include("keys.urls")), path("", include("usage.urls"))]
settings_pages = [*account_settings_urlpatterns, path("advanced/api-keys/", include("keys.dashboard_urls"))]

urlpatterns = [
    path("", home, name="home"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
    path("accounts/", include("accounts.urls")),
    path("settings/", include(settings_pages)),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_v1)),
    path("api/problems/<slug:code>", problem_page, name="problem"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", api_docs, name="swagger-ui"),
    path("api/redoc/", api_redoc, name="redoc"),
]

handler400 = "config.errors.handler400"
handler404 = "config.errors.handler404"
handler500 = "config.errors.handler500"
