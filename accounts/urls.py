from django.contrib.auth import views as auth_views
from django.urls import path
from django.views.generic import RedirectView

from accounts import apis, views

api_urlpatterns = [
    path("me", apis.MeApi.as_view(), name="me"),
    path("company/policy", apis.CompanyPolicyApi.as_view(), name="company-policy"),
]

# Mounted at /settings/ next to the key pages (config.urls).
settings_urlpatterns = [
    path("", RedirectView.as_view(pattern_name="settings-general"), name="settings"),
    path("general/", views.settings_general, name="settings-general"),
    path("general/key-policy/", views.settings_key_policy, name="settings-key-policy"),
    path("company/", views.company_switch, name="company-switch"),
]

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
