"""ids: canonical JSON, digests and short ids are stable and type-sensitive."""
import pytest

from trackdag.errors import TrackdagError
from trackdag.ids import canonical_json, digest, letter_id, short_id


def test_canonical_json_sorts_keys_and_is_compact():
    assert canonical_json({"b": 1, "a": {"d": [1, 2], "c": None}}) == '{"a":{"c":null,"d":[1,2]},"b":1}'


def test_key_order_does_not_change_digest():
    assert digest({"x": 1, "y": [1, {"a": 1, "b": 2}]}) == digest({"y": [1, {"b": 2, "a": 1}], "x": 1})


def test_types_are_kept_apart():
    ids = {digest(v) for v in (123, "123", 123.0, True, 1, None, "None")}
    assert len(ids) == 7


def test_pinned_values():
    # Pinned: changing these changes every job folder name users have on disk.
    assert digest({"a": 1}) == "015abd7f5cc57a2dd94b7590f04ad8084273905ee33ec5cebeae62276a97f862"
    assert short_id(digest({"a": 1})) == "17r0zom3mqvg"
    assert letter_id({"a": 1}) == "qehwurgpaebm"


def test_short_id_is_prefix_of_base36_and_padded():
    full = digest("anything")
    assert len(short_id(full)) == 12
    assert short_id(full) == short_id(full)
    assert short_id("0" * 63 + "1") == "000000000001"
    assert set(short_id(full)) <= set("0123456789abcdefghijklmnopqrstuvwxyz")


def test_nan_and_non_string_keys_are_rejected_with_a_message():
    with pytest.raises(TrackdagError, match="nan"):
        digest({"x": float("nan")})
    with pytest.raises(TrackdagError, match="must be a string"):
        digest({1: "a"})


def test_short_ids_are_the_leading_digits_of_the_whole_number():
    # short_id / letter_id take the first digits without encoding the rest: the same digits, for any size
    import random

    from trackdag.ids import _ALPHABET26, _ALPHABET36, _encode, _leading

    rng = random.Random(7)
    numbers = [0, 1, 35, 36, 37, 36 ** 12 - 1, 36 ** 12, 26 ** 12, 2 ** 256 - 1]
    numbers += [rng.getrandbits(rng.choice([256, 255, 128, 64, 61, 8])) for _ in range(5000)]
    for alphabet in (_ALPHABET36, _ALPHABET26):
        for number in numbers:
            for length in (12, 5):
                assert _leading(number, alphabet, length) == _encode(number, alphabet)[:length]


def test_canonical_json_still_refuses_what_has_no_json_spelling():
    import pytest

    from trackdag.errors import TrackdagError
    from trackdag.ids import canonical_json

    for bad in ({"a": float("nan")}, [1, {"x": [float("inf")]}], {"a": {1: "b"}}, ({"k": (1, {2: 3})},)):
        with pytest.raises(TrackdagError):
            canonical_json(bad)
    assert canonical_json({"a": (1, [True, None, 1.5])}) == '{"a":[1,[true,null,1.5]]}'


def test_short_ids_by_table_equal_the_plain_base36_digits():
    """short_id's table look-ups give the first 12 base-36 digits, zero-padded, for any 256-bit value."""
    import hashlib
    import random

    from trackdag import ids

    def plain(full):
        n, out = int(full, 16), ""
        while n:
            n, r = divmod(n, 36)
            out = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + out
        return (out or "0")[:12].rjust(12, "0")

    rng = random.Random(0)
    cases = [hashlib.sha256(str(i).encode()).hexdigest() for i in range(2000)]
    cases += [format(rng.getrandbits(bits), "064x") for bits in range(1, 257)]
    cases += [format(v, "064x") for k in range(50) for v in (36 ** k - 1, 36 ** k) if 0 <= v < 2 ** 256]
    cases += ["0" * 64, "f" * 64]
    assert [ids.short_id(c) for c in cases] == [plain(c) for c in cases]
    assert ids.short_ids(cases) == [plain(c) for c in cases]  # the batch, every branch (36**48, 36**49 too)
