from django.urls import path

from audit import apis as audit_apis
from keys import apis, company_apis, leak_apis

# Routes exactly as documented: no trailing slash, so a POST is never redirected.
urlpatterns = [
    path("me", company_apis.MeApi.as_view(), name="me"),
    path("company/policy", company_apis.CompanyPolicyApi.as_view(), name="company-policy"),
    path("users/<int:user_id>/api-keys", apis.UserApiKeysApi.as_view(), name="user-api-keys"),
    path(
        "users/<int:user_id>/api-keys/<uuid:key_id>/revoke",
        apis.UserApiKeyRevokeApi.as_view(),
        name="user-api-key-revoke",
    ),
    path("api-keys", apis.ApiKeysApi.as_view(), name="api-keys"),
    path("api-keys/legacy-status", apis.LegacyStatusApi.as_view(), name="api-keys-legacy-status"),
    path("api-keys/legacy-notice-shown", apis.LegacyNoticeShownApi.as_view(), name="api-keys-legacy-notice-shown"),
    path("api-keys/<uuid:key_id>", apis.ApiKeyDetailApi.as_view(), name="api-key-detail"),
    path("api-keys/<uuid:key_id>/regenerate", apis.ApiKeyRegenerateApi.as_view(), name="api-key-regenerate"),
    path("api-keys/<uuid:key_id>/decrypt", apis.ApiKeyDecryptApi.as_view(), name="api-key-decrypt"),
    path("api-keys/<uuid:key_id>/restrictions", apis.ApiKeyRestrictionsApi.as_view(), name="api-key-restrictions"),
    path("leaks", leak_apis.LeakReportApi.as_view(), name="leaks"),
    path("audit-events", audit_apis.AuditEventListApi.as_view(), name="audit-events"),
]
