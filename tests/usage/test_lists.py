"""Lists as a script reads them: audit events and the request log page by cursor and neither
repeat nor skip an item while rows are added between pages; every list names its items
`items`; the page parameters are in the schema wherever they work."""
from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.access import OPERATOR
from audit.models import AuditEvent
from keys.services import api_key_update
from tests.clients import key_client, problem, session_client
from tests.factories import make_key
from usage.log_writes import write
from usage.models import RequestLog

pytestmark = pytest.mark.django_db


def log_rows(key, count: int, start) -> None:
    """`count` request-log rows of `key`, one a second from `start`, two of them at one instant."""
    moments = [start + timedelta(seconds=n) for n in range(count)]
    moments[1] = moments[0]  # ties are broken by id, so the order stays total
    write([RequestLog(api_key=key, company=key.company, user=key.owner, created_at=at, method="GET",
                      path=f"/api/v1/demo/echo?n={n}", status_code=200, latency_ms=1, tier="standard",
                      cost_microcents=100) for n, at in enumerate(moments)])


def read_all(client, url: str, between=lambda: None) -> list[dict]:
    """Every page from the first, by `next`, calling `between` after each page."""
    items, page = [], client.get(url).json()
    while True:
        items += page["items"]
        between()
        if not page["has_more"]:
            assert page["next"] is None
            return items
        page = client.get(f"{url}&cursor={page['next']}").json()


def test_the_request_log_neither_repeats_nor_skips_while_rows_arrive(alice, alice_key):
    key, raw = alice_key
    log_rows(key, 11, timezone.now() - timedelta(hours=1))
    before = list(RequestLog.objects.filter(api_key=key).values_list("id", flat=True))
    arriving = iter(range(100))

    def more_traffic():
        log_rows(key, 2, timezone.now() + timedelta(seconds=next(arriving)))

    url = f"/api/v1/api-keys/{key.pk}/usage/requests?page_size=4"
    ids = [item["id"] for item in read_all(session_client(alice), url, more_traffic)]
    assert len(ids) == len(set(ids)) == 11
    assert ids == before  # newest first, as the log is ordered
    assert RequestLog.objects.filter(api_key=key).count() == 11 + 2 * 3


def test_audit_events_neither_repeat_nor_skip_while_keys_are_renamed(admin, alice, alice_key):
    key, _ = alice_key
    for n in range(7):
        api_key_update(api_key=key, grantor=OPERATOR, name=f"Rename {n}")
    before = list(AuditEvent.objects.filter(company=key.company).values_list("id", flat=True))
    renames = iter(range(100))

    def rename():
        api_key_update(api_key=key, grantor=OPERATOR, name=f"Meanwhile {next(renames)}")

    ids = [event["id"] for event in read_all(session_client(admin), "/api/v1/audit-events?page_size=3", rename)]
    assert len(ids) == len(set(ids)) and ids == before
    assert AuditEvent.objects.filter(company=key.company).count() == len(before) + 3


def test_page_numbers_still_work_for_one_release_and_hand_over_to_the_cursor(alice, alice_key):
    key, _ = alice_key
    log_rows(key, 5, timezone.now() - timedelta(hours=1))
    client = session_client(alice)
    url = f"/api/v1/api-keys/{key.pk}/usage/requests?page_size=2"
    first = client.get(url + "&page=1").json()
    assert (first["total"], first["page"], first["total_pages"], first["has_more"]) == (5, 1, 3, True)
    third = client.get(url + "&page=3").json()
    assert len(third["items"]) == 1 and third["has_more"] is False and third["next"] is None
    second = client.get(f"{url}&cursor={first['next']}").json()
    assert second["items"] == client.get(url + "&page=2").json()["items"]
    assert "total" not in second  # a cursor page counts nothing


def test_the_first_page_counts_up_to_the_cap_and_says_when_total_is_only_a_lower_bound(alice, alice_key,
                                                                                      monkeypatch):
    key, _ = alice_key
    log_rows(key, 5, timezone.now() - timedelta(hours=1))
    client = session_client(alice)
    url = f"/api/v1/api-keys/{key.pk}/usage/requests?page_size=2"
    exact = client.get(url).json()
    assert (exact["total"], exact["total_capped"], exact["total_pages"]) == (5, False, 3)
    monkeypatch.setattr("core.pagination.COUNT_CAP", 3)
    first = client.get(url).json()
    assert (first["total"], first["total_capped"], first["total_pages"], len(first["items"])) == (3, True, 2, 2)
    assert first["items"] == exact["items"] and first["next"] == exact["next"]
    # The last page is reached: the count is exact again, whatever the cap.
    last = client.get(url + "&page=3").json()
    assert (last["total"], last["total_capped"], last["has_more"]) == (5, False, False)
    assert [item["path"] for item in read_all(client, url)] == [f"/api/v1/demo/echo?n={n}" for n in (4, 3, 2, 1, 0)]


@pytest.mark.parametrize("query, code, field", [
    ("cursor={cursor}&page=2", "invalid_pagination", "cursor"),
    ("cursor=bm90LWEtY3Vyc29y", "invalid_cursor", "cursor"),
    ("cursor=%E2%98%83", "invalid_cursor", "cursor"),
    ("cursor=" + "A" * 300, "invalid_cursor", "cursor"),
    ("page_size=0", "invalid_pagination", None),
])
def test_a_bad_cursor_or_a_mix_with_page_is_a_400(query, code, field, admin, alice_key):
    key, _ = alice_key
    log_rows(key, 3, timezone.now() - timedelta(hours=1))
    client = session_client(admin)
    cursor = client.get(f"/api/v1/api-keys/{key.pk}/usage/requests?page_size=1").json()["next"]
    for url in (f"/api/v1/api-keys/{key.pk}/usage/requests", "/api/v1/audit-events"):
        response = client.get(f"{url}?{query.format(cursor=cursor)}")
        assert response.status_code == 400, url
        error = problem(response)
        assert error["code"] == code
        if field:
            assert field in {e.get("parameter") for e in error["errors"]}, error


def test_a_cursor_is_good_only_for_the_list_and_filters_that_gave_it_out(admin, alice, alice_key):
    """Two request logs, a filtered one and the audit events: a cursor moves through its own list
    only; elsewhere, or edited, it is a 400 and no page of the other list."""
    key, _ = alice_key
    other, _ = make_key(alice, name="Other")
    log_rows(key, 3, timezone.now() - timedelta(hours=1))
    log_rows(other, 3, timezone.now() - timedelta(hours=1))
    for n in range(3):
        api_key_update(api_key=key, grantor=OPERATOR, name=f"Rename {n}")
    client = session_client(admin)
    own = f"/api/v1/api-keys/{key.pk}/usage/requests?page_size=1"
    log_cursor = client.get(own).json()["next"]
    audit_cursor = client.get("/api/v1/audit-events?page_size=1").json()["next"]
    assert client.get(f"{own}&cursor={log_cursor}").status_code == 200
    assert client.get(f"/api/v1/audit-events?page_size=1&cursor={audit_cursor}").status_code == 200
    value, _, signature = log_cursor.rpartition(".")
    tampered = value[:-1] + ("A" if value[-1] != "A" else "B") + "." + signature
    for url in (f"/api/v1/api-keys/{other.pk}/usage/requests?page_size=1&cursor={log_cursor}",
                f"{own}&status=success&cursor={log_cursor}",
                f"/api/v1/audit-events?page_size=1&cursor={log_cursor}",
                f"{own}&cursor={audit_cursor}",
                f"{own}&cursor={tampered}"):
        response = client.get(url)
        assert response.status_code == 400, url
        error = problem(response)
        assert error["code"] == "invalid_cursor" and "items" not in error
        assert error["errors"] == [{"parameter": "cursor", "detail": "not a cursor of this list"}]


LISTS = [
    ("/api/v1/api-keys", None),
    ("/api/v1/users/{user}/api-keys", None),
    ("/api/v1/audit-events", None),
    ("/api/v1/api-keys/{key}/usage/requests", None),
    ("/api/v1/api-keys/{key}/usage/by-tier", "tiers"),
    ("/api/v1/api-keys/{key}/usage/errors", "errors"),
    ("/api/v1/api-keys/{key}/usage/timeseries", "data"),
    ("/api/v1/usage", "keys"),
    ("/api/v1/usage/timeseries", "data"),
]


@pytest.mark.parametrize("route, old_name", LISTS)
def test_every_list_names_its_items_items_and_keeps_the_old_name_for_one_release(route, old_name, admin, alice):
    key, raw = make_key(admin)
    client = key_client(raw)
    client.get("/api/v1/demo/echo")
    client.post("/api/v1/demo/report", {"nope": 1}, format="json")  # a 400, for the errors list
    api_key_update(api_key=key, grantor=OPERATOR, name="Renamed")  # an audit event
    body = client.get(route.format(key=key.pk, user=admin.pk)).json()
    assert isinstance(body["items"], list) and body["items"], body
    if old_name:
        assert body[old_name] == body["items"]


def schema_operation(client, path: str) -> dict:
    return client.get("/api/schema/?format=json").json()["paths"][path]["get"]


@pytest.mark.parametrize("path, names", [
    ("/api/v1/api-keys", {"page", "page_size"}),
    ("/api/v1/users/{user_id}/api-keys", {"page", "page_size"}),
    ("/api/v1/audit-events", {"cursor", "page", "page_size"}),
    ("/api/v1/api-keys/{key_id}/usage/requests", {"cursor", "page", "page_size"}),
])
def test_page_parameters_are_documented_where_they_work(path, names, client):
    operation = schema_operation(client, path)
    documented = {p["name"]: p for p in operation["parameters"]}
    assert names <= set(documented)
    assert documented["page"].get("deprecated", False) is ("cursor" in names)
    response = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    fields = client.get("/api/schema/?format=json").json()["components"]["schemas"][response]["properties"]
    assert "items" in fields and ("has_more" in fields) is ("cursor" in names)


def test_renamed_collections_are_deprecated_in_the_schema(client):
    schemas = client.get("/api/schema/?format=json").json()["components"]["schemas"]
    for component, old_name in [
        ("KeyUsageByTier", "tiers"),
        ("KeyUsageErrors", "errors"),
        ("KeyUsageTimeseries", "data"),
        ("CompanyUsage", "keys"),
        ("CompanyTimeseries", "data"),
    ]:
        assert schemas[component]["properties"][old_name]["deprecated"] is True
        assert "deprecated" not in schemas[component]["properties"]["items"]


def test_a_keys_pages_come_off_its_own_index_in_order_once_the_planner_has_statistics(alice, alice_key):
    """A busy key and a quiet one interleaved in time, ties included, after ANALYZE (what
    autovacuum, or SQLite's `PRAGMA optimize`, gives a running database): each key's pages are
    its rows, newest first, ties by id, and its first page counts them all; SQLite reads a page
    and the count from the key's index with no sort, where on (key, created_at) it walked the
    created_at index through the busy key's rows."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    busy, _ = alice_key
    quiet, _ = make_key(alice, name="Quiet")
    start = timezone.now() - timedelta(hours=2)
    log_rows(busy, 300, start)
    log_rows(quiet, 12, start)  # the same instants as the busy key's first rows: ties across keys
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    client = session_client(alice)
    for key in (busy, quiet):
        expected = sorted(RequestLog.objects.filter(api_key=key).values_list("created_at", "id"), reverse=True)
        url = f"/api/v1/api-keys/{key.pk}/usage/requests?page_size=7"
        with CaptureQueriesContext(connection) as queries:
            first = client.get(url).json()
        assert first["total"] == len(expected) and first["total_capped"] is False
        log_reads = [q["sql"] for q in queries if q["sql"].startswith("SELECT") and "usage_requestlog" in q["sql"]]
        assert len(log_reads) == 2  # the page and its capped count
        assert [item["id"] for item in read_all(client, url)] == [pk for _, pk in expected]
        if connection.vendor == "sqlite":
            for sql in log_reads:
                with connection.cursor() as cursor:
                    plan = " ".join(row[-1] for row in cursor.execute("EXPLAIN QUERY PLAN " + sql))
                assert "requestlog_key_time_id_idx" in plan and "TEMP B-TREE" not in plan, plan
