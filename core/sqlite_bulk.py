"""Writing many values to SQLite without Django's Python for each value and each statement: the
request log's writer (usage.log_writes) and last_used_at (keys.services) hand over thousands of
values a second, and with 2,000 keys in rotation a batch holds a row of each rollup per key."""
import datetime as dt
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import connection


def time_text() -> Callable[[dt.datetime | None], str | None]:
    """A converter to what Django stores for a time on SQLite (adapt_datetimefield_value: naive,
    in the connection's zone, as text), without its checks and conversion for a UTC time in a
    UTC connection. Django's text is str() of the naive time, which is isoformat(" "): the aware
    time's isoformat(" ") without its "+00:00", at half the cost of replace() and str()."""
    adapt = connection.ops.adapt_datetimefield_value
    if connection.timezone_name != "UTC":
        return adapt

    def utc(value: dt.datetime | None) -> str | None:
        return value.isoformat(" ")[:-6] if value is not None and value.tzinfo is dt.UTC else adapt(value)

    return utc


def uuid_text(value: uuid.UUID | None) -> str | None:
    """What Django stores for a UUID on SQLite (UUIDField.get_db_prep_value): its hex."""
    return None if value is None else value.hex


def run(statement: str, params: Sequence[Any]) -> None:
    """Run a statement written with SQLite's own "?" placeholders on the driver's cursor. Django's
    cursor would rewrite each "%s" of the statement with a regular expression first, an eighth of
    a rollup row's cost. Errors are still Django's (a locked database is its OperationalError,
    which the request log's writer retries on)."""
    with connection.cursor() as cursor, connection.wrap_database_errors:
        sqlite3.Cursor.execute(cursor.cursor, statement, params)


def run_many(statement: str, rows: Iterable[Sequence[Any]]) -> None:
    """run() over each of `rows`: one statement prepared once."""
    with connection.cursor() as cursor, connection.wrap_database_errors:
        sqlite3.Cursor.executemany(cursor.cursor, statement, rows)
