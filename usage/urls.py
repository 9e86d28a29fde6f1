from django.urls import include, path

from usage import apis, demo

# A key's own routes, each named after its path (usage/by-tier: api-key-usage-by-tier), under
# one include of their prefix as in keys/urls.py: a product route is not tried against each of
# them in turn.
KEY_ROUTES = {
    "limits": apis.KeyLimitsApi,
    "usage": apis.KeyUsageApi,
    "usage/by-tier": apis.KeyUsageByTierApi,
    "usage/errors": apis.KeyUsageErrorsApi,
    "usage/requests": apis.KeyUsageRequestsApi,
    "usage/timeseries": apis.KeyUsageTimeseriesApi,
}

urlpatterns = [
    path("api-keys/<uuid:key_id>/", include([
        path(route, view.as_view(), name="api-key-" + route.replace("/", "-")) for route, view in KEY_ROUTES.items()
    ])),
    path("usage", apis.CompanyUsageApi.as_view(), name="company-usage"),
    path("usage/timeseries", apis.CompanyUsageTimeseriesApi.as_view(), name="company-usage-timeseries"),
]

# Product routes: the priced views a key is handed out for (here the demo's), which carry the
# traffic. config.urls tries them first, so a product request is not turned away by every
# management route before it is found.
product_urlpatterns = [
    path("demo/echo", demo.DemoEchoApi.as_view(), name="demo-echo"),
    path("demo/report", demo.DemoReportApi.as_view(), name="demo-report"),
]
