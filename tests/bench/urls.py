from django.urls import include, path

from tests.bench import views

urlpatterns = [
    path("bench/control", views.ControlApi.as_view()),
    path("bench/hasapikey/me", views.HasAPIKeyMeApi.as_view()),
    path("bench/token/me", views.TokenMeApi.as_view()),
    path("", include("config.urls")),
]

handler404 = "config.errors.handler404"
handler500 = "config.errors.handler500"
