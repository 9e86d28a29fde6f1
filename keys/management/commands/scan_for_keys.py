import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from keys import crypto
from keys.models import ApiKey
from keys.services import api_key_revoke

PROGRESS_EVERY = 500


def _files(paths):
    for root in paths:
        root = Path(root)
        if root.is_file():
            yield root
        elif root.is_dir():
            for folder, dirs, names in os.walk(root):
                dirs[:] = [d for d in dirs if d not in (".git", ".venv", "node_modules", "__pycache__")]
                for name in sorted(names):
                    yield Path(folder) / name
        else:
            raise CommandError(f"{root} is neither a file nor a folder.")


def _candidates(path: Path):
    """(line number, text) of every key-shaped string; a key never spans lines, so the file is
    read a line at a time whatever its size. latin-1 decodes any byte, so binaries scan too."""
    with open(path, encoding="latin-1", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            for match in crypto.KEY_PATTERN.finditer(line):
                yield number, match.group()


class Command(BaseCommand):
    help = ("Find Keyhouse keys in files (a repository, a log dump), check their checksums offline, and report "
            "each real key's id, owner and status without printing it. --revoke revokes the active ones.")

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--revoke", action="store_true", help="Revoke every active key found.")

    def handle(self, *args, paths, revoke, **options):
        found, mistyped, scanned = {}, 0, 0
        for path in _files(paths):
            scanned += 1
            if scanned % PROGRESS_EVERY == 0:
                self.stderr.write(f"… {scanned} files scanned")
            try:
                candidates = list(_candidates(path))
            except OSError as error:
                self.stderr.write(f"skipped {path}: {error.strerror}")
                continue
            for line, text in candidates:
                try:
                    crypto.parse_key(text)
                except crypto.MalformedKey:
                    mistyped += 1
                    continue
                found.setdefault(crypto.hash_key(text), []).append(f"{path}:{line}")
        keys = {k.key_hash: k for k in ApiKey.objects.select_related("owner", "company").filter(key_hash__in=found)}
        revoked = 0
        for digest, places in found.items():
            key = keys.get(digest)
            if key is None:
                self.stdout.write(f"unknown key (valid checksum, not issued here or regenerated) at {', '.join(places)}")
                continue
            status = "revoked" if key.is_revoked else "expired" if key.has_expired else "active"
            if revoke and status == "active":
                api_key_revoke(api_key=key, revoked_by=None)
                status, revoked = "active → revoked now", revoked + 1
            self.stdout.write(f"{key.prefix}… id {key.pk} owner {key.owner.get_username()} ({key.company.name}): "
                              f"{status} at {', '.join(places)}")
        self.stdout.write(f"Scanned {scanned} files: {len(found)} distinct keys with valid checksums "
                          f"({sum(1 for d in found if d in keys)} issued here), {mistyped} look-alikes with bad "
                          f"checksums ignored" + (f", {revoked} revoked." if revoke else "."))
