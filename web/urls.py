from django.urls import include, path
from django.views.generic import RedirectView

from web import key_detail_views, key_views, settings_views

# One key's pages, mounted at <uuid:key_id>/ below key_pages.
one_key_pages = [
    path("", key_detail_views.key_detail, name="key-detail"),
    path("name/", key_detail_views.key_name_set, name="key-name"),
    path("expiry/", key_detail_views.key_expiry_set, name="key-expiry"),
    path("rename/", key_views.key_rename, name="key-rename"),
    path("revoke/", key_views.key_revoke, name="key-revoke"),
    path("regenerate/", key_views.key_regenerate, name="key-regenerate"),
    path("limits/", key_detail_views.key_limits_set, name="key-limits"),
    path("limits/remove/", key_detail_views.key_limits_delete, name="key-limits-remove"),
    path("restrictions/", key_detail_views.key_restrictions_set, name="key-restrictions"),
]

# Mounted at /settings/advanced/api-keys/; pages, so trailing slashes as usual.
key_pages = [
    path("", key_views.key_list, name="key-list"),
    path("new/", key_views.key_new, name="key-new"),
    path("company/", key_views.company_keys, name="company-keys"),
    path("legacy-notice/dismiss/", key_views.legacy_notice_dismiss, name="legacy-notice-dismiss"),
    path("<uuid:key_id>/", include(one_key_pages)),
]

# Mounted at /settings/ (config.urls).
urlpatterns = [
    path("", RedirectView.as_view(pattern_name="settings-general"), name="settings"),
    path("general/", settings_views.settings_general, name="settings-general"),
    path("general/key-policy/", settings_views.settings_key_policy, name="settings-key-policy"),
    path("company/", settings_views.company_switch, name="company-switch"),
    path("advanced/api-keys/", include((key_pages, "dashboard"))),
]
