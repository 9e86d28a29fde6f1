"""The background worker as tests run it, and mail backends that check how mail is sent.
For tests marked django_db(transaction=True): the worker must see committed rows, and a test
wrapped in a transaction would make every mail look sent inside one."""
import signal
import smtplib

from django.core.mail.backends.locmem import EmailBackend
from django.core.management import call_command
from django.db import connection

OUTSIDE_TRANSACTIONS = "tests.worker.OutsideTransactionsBackend"
SERVER_DOWN = "tests.worker.ServerDownBackend"


class OutsideTransactionsBackend(EmailBackend):
    """mail.outbox, refusing a mail sent inside a transaction: an SMTP round trip there holds
    SQLite's write lock, and every request log write with it."""

    def send_messages(self, messages):
        assert not connection.in_atomic_block, "mail sent inside a database transaction"
        return super().send_messages(messages)


class ServerDownBackend(EmailBackend):
    def send_messages(self, messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


def run_worker() -> None:
    """`manage.py db_worker --batch`: every task that is due, then return. The worker sets
    its own Ctrl-C handlers; pytest's are put back."""
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    try:
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
