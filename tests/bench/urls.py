from django.urls import include, path

from config.urls import urlpatterns as app_urlpatterns
from tests.bench import views
from usage.urls import product_urlpatterns

# The comparison views sit in the same include as the product route the keyed rows call, and
# are tried before it: resolving /api/v1/demo/echo costs a little more than /api/v1/bench/control
# (it is turned away by bench/ first), never less, so the ratios compare authentication, pricing
# and logging, not a URL's place in the tree.
comparison = [
    path("django", views.bare_django),
    path("control", views.ControlApi.as_view()),
    path("hasapikey/me", views.HasAPIKeyMeApi.as_view()),
    path("token/me", views.TokenMeApi.as_view()),
]

urlpatterns = [
    path("api/v1/", include([path("bench/", include(comparison)), path("", include(product_urlpatterns))])),
    *app_urlpatterns,
]

handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"
