from django.urls import include, path

from usage import apis, demo

# A key's own routes under one include of their prefix, as in keys/urls.py: a product route is
# not tried against each of them in turn.
urlpatterns = [
    path("api-keys/<uuid:key_id>/", include([
        path("limits", apis.KeyLimitsApi.as_view(), name="api-key-limits"),
        path("usage", apis.KeyUsageApi.as_view(), name="api-key-usage"),
        path("usage/by-tier", apis.KeyUsageByTierApi.as_view(), name="api-key-usage-by-tier"),
        path("usage/errors", apis.KeyUsageErrorsApi.as_view(), name="api-key-usage-errors"),
        path("usage/requests", apis.KeyUsageRequestsApi.as_view(), name="api-key-usage-requests"),
        path("usage/timeseries", apis.KeyUsageTimeseriesApi.as_view(), name="api-key-usage-timeseries"),
    ])),
    path("usage", apis.CompanyUsageApi.as_view(), name="company-usage"),
    path("usage/timeseries", apis.CompanyUsageTimeseriesApi.as_view(), name="company-usage-timeseries"),
    path("demo/echo", demo.DemoEchoApi.as_view(), name="demo-echo"),
    path("demo/report", demo.DemoReportApi.as_view(), name="demo-report"),
]
