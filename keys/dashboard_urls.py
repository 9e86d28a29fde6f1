from django.urls import path

from keys import detail_views, views

# Mounted at /settings/advanced/api-keys/ (config.urls); pages, so trailing slashes as usual.
app_name = "dashboard"

urlpatterns = [
    path("", views.key_list, name="key-list"),
    path("new/", views.key_new, name="key-new"),
    path("company/", views.company_keys, name="company-keys"),
    path("legacy-notice/dismiss/", views.legacy_notice_dismiss, name="legacy-notice-dismiss"),
    path("<uuid:key_id>/", views.key_detail, name="key-detail"),
    path("<uuid:key_id>/rename/", views.key_rename, name="key-rename"),
    path("<uuid:key_id>/revoke/", views.key_revoke, name="key-revoke"),
    path("<uuid:key_id>/regenerate/", views.key_regenerate, name="key-regenerate"),
    path("<uuid:key_id>/limits/", detail_views.key_limits_set, name="key-limits"),
    path("<uuid:key_id>/limits/remove/", detail_views.key_limits_delete, name="key-limits-remove"),
    path("<uuid:key_id>/restrictions/", detail_views.key_restrictions_set, name="key-restrictions"),
]
