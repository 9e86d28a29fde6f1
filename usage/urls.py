from django.urls import path

from usage import apis, demo

urlpatterns = [
    path("api-keys/<uuid:key_id>/limits", apis.KeyLimitsApi.as_view(), name="api-key-limits"),
    path("api-keys/<uuid:key_id>/usage", apis.KeyUsageApi.as_view(), name="api-key-usage"),
    path("api-keys/<uuid:key_id>/usage/by-tier", apis.KeyUsageByTierApi.as_view(), name="api-key-usage-by-tier"),
    path("api-keys/<uuid:key_id>/usage/errors", apis.KeyUsageErrorsApi.as_view(), name="api-key-usage-errors"),
    path("api-keys/<uuid:key_id>/usage/requests", apis.KeyUsageRequestsApi.as_view(), name="api-key-usage-requests"),
    path("api-keys/<uuid:key_id>/usage/timeseries", apis.KeyUsageTimeseriesApi.as_view(),
         name="api-key-usage-timeseries"),
    path("usage", apis.CompanyUsageApi.as_view(), name="company-usage"),
    path("usage/timeseries", apis.CompanyUsageTimeseriesApi.as_view(), name="company-usage-timeseries"),
    path("demo/echo", demo.DemoEchoApi.as_view(), name="demo-echo"),
    path("demo/report", demo.DemoReportApi.as_view(), name="demo-report"),
]
