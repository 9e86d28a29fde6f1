import os
import re
from argparse import ArgumentTypeError
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from core import crypto
from keys.leaks import leaked_value_disable, leaked_value_find

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


def _candidates(path: Path, legacy_pattern):
    """(line number, text, whether it has our format) of every key-shaped string; a key never
    spans lines, so the file is read a line at a time whatever its size. latin-1 decodes any
    byte, so binaries scan too."""
    with open(path, encoding="latin-1", newline="") as handle:
        for number, line in enumerate(handle, start=1):
            for match in crypto.KEY_PATTERN.finditer(line):
                yield number, match.group(), True
            for match in legacy_pattern.finditer(line) if legacy_pattern else ():
                yield number, match.group(), False


def _pattern(text: str):
    try:
        return re.compile(text)
    except re.error as error:
        raise ArgumentTypeError(f"is not a regular expression: {error}") from None


class Command(BaseCommand):
    help = ("Find Keyhouse keys in files (a repository, a log dump), check their checksums offline, and report "
            "each real key's id, owner and status without printing it, as a current value or the old value of a "
            "regenerated key, with the active keys made with it. --revoke stops every working value found: the "
            "key is revoked, or an old value's grace period ends.")

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+")
        parser.add_argument("--revoke", action="store_true", help="Revoke every active key found.")
        parser.add_argument("--legacy-pattern", type=_pattern, metavar="REGEX",
                            help="Also look for keys of the system we replace (import_legacy_keys), whose format "
                                 "has no checksum: a regular expression matching them, e.g. 'oldsys-[0-9a-f]{20}'.")

    def handle(self, *args, paths, revoke, legacy_pattern, **options):
        found, mistyped, scanned = {}, 0, 0
        for path in _files(paths):
            scanned += 1
            if scanned % PROGRESS_EVERY == 0:
                self.stderr.write(f"… {scanned} files scanned")
            try:
                candidates = list(_candidates(path, legacy_pattern))
            except OSError as error:
                self.stderr.write(f"skipped {path}: {error.strerror}")
                continue
            for line, text, ours in candidates:
                try:
                    if ours:
                        crypto.parse_key(text)
                except crypto.MalformedKey:
                    mistyped += 1
                    continue
                found.setdefault(text, []).append(f"{path}:{line}")
        issued, stopped = 0, 0
        for text, places in found.items():
            key, was_previous = leaked_value_find(text)
            if key is None:
                self.stdout.write(
                    f"unknown key (valid checksum, not issued here or regenerated) at {', '.join(places)}"
                )
                continue
            issued += 1
            leak = leaked_value_disable(key, was_previous, disable=revoke)
            status = leak.status if revoke or not leak.was_working else ("old value, still in its grace period"
                                                                          if was_previous else "active")
            stopped += revoke and leak.was_working
            self.stdout.write(f"{key.prefix}… id {key.pk} owner {key.owner.get_username()} ({key.company.name}): "
                              f"{status} at {', '.join(places)}")
            for made in leak.created_keys:
                self.stdout.write(f"    made with it, still active: {made.prefix}… id {made.pk} \"{made.name}\"")
        matched = "valid checksums" + (" or the legacy pattern" if legacy_pattern else "")
        self.stdout.write(f"Scanned {scanned} files: {len(found)} distinct keys with {matched} "
                          f"({issued} issued here), {mistyped} look-alikes with bad checksums ignored"
                          + (f", {stopped} revoked." if revoke else "."))
