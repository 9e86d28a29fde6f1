import math
import re

import pytest

from core import crypto


@pytest.mark.parametrize("mode, prefix", [("live", "sk_live_"), ("test", "sk_test_")])
def test_generated_keys_have_the_prefix_and_one_selectable_word(mode, prefix):
    raw = crypto.generate_key(mode)
    assert raw.startswith(prefix)
    assert len(raw) == crypto.KEY_LENGTH
    assert re.fullmatch(r"sk_(live|test)_[A-Za-z0-9]+", raw)
    assert crypto.parse_key(raw).mode == mode


def test_keys_carry_at_least_160_bits_of_randomness():
    assert crypto.RANDOM_LENGTH * math.log2(len(crypto.ALPHABET)) >= 160
    assert len({crypto.generate_key("live") for _ in range(1000)}) == 1000


def test_display_prefix_shows_four_characters_after_the_mode():
    raw = crypto.generate_key("live")
    assert crypto.parse_key(raw).display_prefix == raw[:12]
    assert crypto.masked(raw[:12]) == raw[:12] + "…"


def test_hash_is_keyed_stable_and_names_its_scheme_and_pepper(settings):
    raw = crypto.generate_key("live")
    first = crypto.hash_key(raw)
    scheme, pepper_id, digest = first.split("$")
    assert first == crypto.hash_key(raw) and raw not in first
    assert (scheme, pepper_id, len(digest)) == ("hmac-sha256", crypto.pepper_id("test-pepper"), 64)
    assert crypto.candidate_hashes(raw) == [first]
    settings.API_KEY_PEPPERS = ["another-pepper", "test-pepper"]
    assert crypto.hash_key(raw) != first and crypto.candidate_hashes(raw)[0] != first
    assert crypto.candidate_hashes(raw) == [crypto.hash_key(raw), first]


def _flip_last(raw):
    return raw[:-1] + ("A" if raw[-1] != "A" else "B")


MALFORMED = {
    "wrong prefix": lambda raw: "pk_live_" + raw[8:],
    "upper-case prefix": lambda raw: raw[:8].upper() + raw[8:],
    "bad checksum": _flip_last,
    "mode swapped": lambda raw: "sk_test_" + raw[8:],
    "truncated": lambda raw: raw[:-3],
    "one extra character": lambda raw: raw + "x",
    "10 KB long": lambda raw: raw + "a" * 10_000,
    "non-ASCII": lambda raw: raw[:20] + "é" + raw[21:],
    "space inside": lambda raw: raw[:20] + " " + raw[21:],
    "empty": lambda raw: "",
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_keys_are_refused_without_a_lookup(case):
    with pytest.raises(crypto.MalformedKey):
        crypto.parse_key(MALFORMED[case](crypto.generate_key("live")))


def test_scanner_pattern_finds_keys_in_text():
    raw = crypto.generate_key("test")
    assert crypto.KEY_PATTERN.findall(f'API_KEY="{raw}"\n') == [raw]
