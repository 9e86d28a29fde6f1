from django.urls import include, path

from audit import apis as audit_apis
from keys import apis, company_apis, leak_apis

# Routes exactly as documented: no trailing slash, so a POST is never redirected. The routes that
# share a first segment sit under one include of it: a request for another route (a product
# route, resolved after these) is turned away by that one prefix instead of by each route in turn.
urlpatterns = [
    path("me", company_apis.MeApi.as_view(), name="me"),
    path("company/policy", company_apis.CompanyPolicyApi.as_view(), name="company-policy"),
    path("users/", include([
        path("<int:user_id>/api-keys", apis.UserApiKeysApi.as_view(), name="user-api-keys"),
        path("<int:user_id>/api-keys/<uuid:key_id>/revoke", apis.UserApiKeyRevokeApi.as_view(),
             name="user-api-key-revoke"),
    ])),
    path("api-keys", apis.ApiKeysApi.as_view(), name="api-keys"),
    path("api-keys/", include([
        path("legacy-status", apis.LegacyStatusApi.as_view(), name="api-keys-legacy-status"),
        path("legacy-notice-shown", apis.LegacyNoticeShownApi.as_view(), name="api-keys-legacy-notice-shown"),
        path("<uuid:key_id>", apis.ApiKeyDetailApi.as_view(), name="api-key-detail"),
        path("<uuid:key_id>/regenerate", apis.ApiKeyRegenerateApi.as_view(), name="api-key-regenerate"),
        path("<uuid:key_id>/decrypt", apis.ApiKeyDecryptApi.as_view(), name="api-key-decrypt"),
        path("<uuid:key_id>/restrictions", apis.ApiKeyRestrictionsApi.as_view(), name="api-key-restrictions"),
    ])),
    path("leaks", leak_apis.LeakReportApi.as_view(), name="leaks"),
    path("audit-events", audit_apis.AuditEventListApi.as_view(), name="audit-events"),
]
