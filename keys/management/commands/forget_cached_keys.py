"""Drop every cached key snapshot, in Redis and (through Redis) in every worker; with local
memory only, every worker drops its copies on reading the change generation this moves.

Saves, deletes and bulk updates of keys, memberships and limits do this by themselves; run it
after changing users in bulk in a shell (User.objects.filter(...).update(is_active=False) sends
no signal), or anything else a key stands on behind Django's back.
"""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from keys import cache as key_cache
from keys.models import ApiKey

BATCH = 500


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--user", help="Only the keys of this username.")

    def handle(self, *args, user, **options):
        if user is not None and not get_user_model().objects.filter(username=user).exists():
            # Else a mistyped name forgets nothing and says "0 key values", which reads as done.
            raise CommandError(f"No user is named {user!r}; nothing was forgotten.")
        keys = ApiKey.objects.all() if user is None else ApiKey.objects.filter(owner__username=user)
        forgotten = 0
        hashes = [h for pair in keys.values_list("key_hash", "previous_key_hash").iterator() for h in pair if h]
        for start in range(0, len(hashes), BATCH):
            key_cache.forget(*hashes[start:start + BATCH])
            forgotten = min(start + BATCH, len(hashes))
            self.stderr.write(f"… {forgotten} of {len(hashes)} key values forgotten")
        self.stdout.write(f"Forgot the cached snapshots of {len(hashes)} key values; each is read from the "
                          "database on its next use.")
