"""Two writes at once on two database connections, in a fixed order: the first holds its
transaction open while the second runs, so a check that takes no lock lets both through.
For tests marked django_db(transaction=True)."""
import threading
import time

from django.db import OperationalError, connection, transaction

from core.errors import ApplicationError

HOLD_SECONDS = 1  # time for the second write to read what it checks, were it not made to wait


def _outcome(call) -> str:
    try:
        call()
    except ApplicationError as error:
        return error.code
    return "done"


def _waiting_for_the_writer(call):
    """SQLite lets one writer in at a time (BEGIN IMMEDIATE): on a database file the next one
    waits out the busy timeout, but the test's shared in-memory database answers "table is
    locked" at once, so the wait is done here. PostgreSQL never raises this; it blocks on the lock."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return call()
        except OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def one_while_the_other_is_open(first, second) -> tuple[str, str]:
    """Run `first` in a transaction kept open while `second` runs; each outcome is "done" or
    the code of the ApplicationError it raised."""
    outcomes, first_inside, release = {}, threading.Event(), threading.Event()

    def run_first():
        try:
            with transaction.atomic():
                outcomes["first"] = _outcome(first)
                first_inside.set()
                release.wait(10)
        finally:
            first_inside.set()
            connection.close()

    def run_second():
        try:
            first_inside.wait(10)
            outcomes["second"] = _waiting_for_the_writer(lambda: _outcome(second))
        finally:
            connection.close()

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for thread in threads:
        thread.start()
    time.sleep(HOLD_SECONDS)
    release.set()
    for thread in threads:
        thread.join(30)
    return outcomes.get("first"), outcomes.get("second")
