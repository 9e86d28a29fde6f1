from django.urls import include, path

from tests.bench import views

# The comparison views sit as deep in the URL tree as /api/v1/me (an include, then api/v1/),
# so that resolving a URL costs every row the same and the ratios compare authentication.
comparison = [
    path("bench/django", views.bare_django),
    path("bench/control", views.ControlApi.as_view()),
    path("bench/hasapikey/me", views.HasAPIKeyMeApi.as_view()),
    path("bench/token/me", views.TokenMeApi.as_view()),
]

urlpatterns = [
    path("", include([path("api/v1/", include(comparison))])),
    path("", include("config.urls")),
]

handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"
