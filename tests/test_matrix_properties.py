"""Property tests of the matrix expander (trackdag.matrix), with hypothesis.

Random specs (keys ``<node>.<param>`` drawn from a small set so entries
collide with rows; scalar, list, list-of-list and mapping values; include,
exclude and submatrices groups written inside or next to ``matrix``; bare
mappings, top-level lists and ``matrices:``) and random junk structures.

Properties:

- nothing but :class:`~trackdag.errors.ParamsError` (one line, naming the
  source) is ever raised;
- every row is a dict of str keys, and rows are unique by canonical JSON;
- the rows equal those of a plain eager reference implementation (the
  algorithm before expansion became lazy, kept below), so laziness, pruning
  and de-duplicated axes change no row and no order;
- with one spec and no include/exclude/submatrices, the row count is the
  product over the axes of the number of *distinct* values of each axis
  (values are distinct when their canonical JSON differs: ``1``, ``1.0``,
  ``True`` and ``'1'`` are four values, a repeated value adds no row);
- no row contains every pair of an exclude entry of its spec, unless it is
  a standalone include row (an include entry that matched no row);
- every include entry is merged into a row (all its pairs present there) or
  is a row of its own, unless its spec has exclude entries (they may drop
  the rows it was merged into) or a later include entry of its spec
  rewrites one of its keys;
- ``max_configs=N`` gives the first N rows of the full expansion;
- :func:`~trackdag.matrix.grid_size` is the row count when it says it is
  exact, an upper bound otherwise (also with tiny counting budgets), and
  ``grid_limit`` refuses exactly the grids whose counted size is over it.
"""
from __future__ import annotations

import math
import os
import tempfile
from unittest import mock

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

import trackdag.matrix as matrix
import trackdag.matrix_expander as matrix_expander
from trackdag.errors import ParamsError, TrackdagError
from trackdag.ids import canonical_json
from trackdag.matrix import GROUP_KEYS, SPEC_KEYS, expand_matrix, grid_size, load_params

# Hypothesis keeps caches in ./.hypothesis even without a database; keep the tree clean
# (the suite runs with -p no:cacheprovider for the same reason).
set_hypothesis_home_dir(os.path.join(tempfile.gettempdir(), "trackdag-hypothesis"))
SETTINGS = settings(max_examples=200, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])

KEYS = [f"{node}.{param}" for node in ("a", "b") for param in ("x", "y")]
keys = st.sampled_from(KEYS)
scalars = st.one_of(
    st.integers(-1, 2), st.booleans(), st.none(), st.sampled_from(["p", "q", "1"]),
    st.sampled_from([0.0, -0.0, 0.5, 1.0]),
)
few = st.sampled_from([1, 2, "p", 0.0, -0.0, True, None])  # a small pool: values repeat
values = st.one_of(  # what a matrix or submatrix key may be given
    scalars,
    st.lists(scalars, max_size=4),
    st.lists(few, min_size=2, max_size=4),
    st.lists(st.lists(scalars, max_size=2), max_size=2),
    st.dictionaries(st.sampled_from(["k", "j"]), scalars, max_size=2),
    st.lists(st.dictionaries(st.sampled_from(["k"]), scalars, max_size=1), max_size=2),
)
literals = st.one_of(scalars, few, st.lists(scalars, max_size=2))  # include / exclude values
literal_entries = st.dictionaries(keys, literals, min_size=1, max_size=3)
sub_entries = st.dictionaries(keys, values, max_size=3)


@st.composite
def specs(draw):
    """One matrix spec, in one of its spellings."""
    mat = draw(st.dictionaries(keys, values, max_size=4))
    parts = {}
    if draw(st.booleans()):
        parts["include"] = draw(st.lists(literal_entries, max_size=3))
    if draw(st.booleans()):
        parts["exclude"] = draw(st.lists(literal_entries, max_size=2))
    for group in draw(st.lists(st.sampled_from(GROUP_KEYS[:4]), max_size=2, unique=True)):
        parts[group] = draw(st.lists(sub_entries, max_size=3))
    form = draw(st.sampled_from(["bare", "outside", "inside"]))
    if form == "bare" and "include" not in parts:
        return {**mat, **parts}
    if form == "inside":
        return {"matrix": {**mat, **parts}}
    return {"matrix": mat, **parts}


#: Corner cases worth pinning whatever hypothesis draws: 0.0 and -0.0 are equal
#: for matching but two values for de-duplication; an include rewrites a
#: matrix value to an equal one; exclude sees keys include added; a
#: submatrix repeats a row; specs overlap; submatrix entries that add nothing.
EXAMPLES = [
    {"a.x": [0.0, -0.0, 0.0]},
    {"matrix": {"a.x": [0.0, -0.0]}, "include": [{"a.x": -0.0, "a.y": 1}]},
    {"matrix": {"a.x": [1, 2], "b.x": [1, 2]}, "include": [{"a.x": 1, "a.y": 1}],
     "exclude": [{"a.y": 1}]},
    {"matrix": {"a.x": [1, 2], "b.x": ["p", "q"]}, "include": [{"a.y": 1}, {"a.x": 1, "a.y": 2}],
     "exclude": [{"a.y": 2, "b.x": "q"}]},
    {"a.x": [1, 2], "b.x": [1, 2], "submatrices": [{"a.y": [5, 5]}, {"a.y": 5}, {"a.x": 1, "b.y": [1, 2]}]},
    [{"a.x": [1, 2]}, {"a.x": [2, 3]}],
    {"matrix": {"a.x": [1, 2, 3], "b.x": [1, 2]}, "exclude": [{"a.x": 2}, {"a.x": 3, "b.x": 1}, {"b.y": 1}],
     "include": [{"a.x": 3, "b.y": 1}, {"a.x": 9}]},
    {"include": [{"a.x": 1}], "submatrices": [{}, {"a.y": []}]},
    {"submatrices": [{}], "submatrices1": [{"a.x": [1, 2]}], "include": [{"a.y": 1}]},
]


def with_examples(test):
    for body in EXAMPLES:
        test = example(body)(test)
    return test


bodies = st.one_of(
    specs(),
    st.lists(specs(), min_size=1, max_size=3),
    st.builds(lambda items: {"matrices": items}, st.lists(specs(), min_size=1, max_size=3)),
)

junk_keys = st.one_of(st.sampled_from(SPEC_KEYS + ("matrices", "pipeline", "__include__")),
                      keys, st.text(max_size=3), st.integers(-1, 1), st.none())
junk = st.recursive(
    st.one_of(scalars, st.text(max_size=4), st.floats(), st.binary(max_size=2),
              st.integers(), st.sampled_from(["~nobody/x.yaml", "nope.yaml", ""])),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(junk_keys, children, max_size=4)),
    max_leaves=25,
)


# --------------------------------------------------------------------------
# The reference: the eager algorithm the lazy expander replaced.


def _same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple, dict)):
        return canonical_json(a) == canonical_json(b)
    return a == b


def _agrees(row, entry, keys=None):
    return all(_same(row[k], v) for k, v in entry.items() if k in row and (keys is None or k in keys))


def _contains(row, entry):
    return all(k in row and _same(row[k], v) for k, v in entry.items())


def _product(mapping):
    axes = {k: (v if isinstance(v, list) else [v]) for k, v in mapping.items()}
    rows = [{}]
    for key, axis in axes.items():
        rows = [{**row, key: value} for row in rows for value in axis]
    return rows


def _reference_spec(spec):
    mat = dict(spec.get("matrix", {}))
    parts = {key: mat.pop(key) if key in mat else spec.get(key, []) for key in SPEC_KEYS[1:]}
    rows = _product(mat)
    for key in GROUP_KEYS:
        patches = [p for entry in parts[key] for p in _product(entry)]
        if patches:
            rows = [hit for row in rows
                    for hit in ([{**row, **p} for p in patches if _agrees(row, p)] or [row])]
    rows = [row for row in rows if row]
    include, original = parts["include"], set(mat)
    used = [False] * len(include)
    for row in rows:
        for i, entry in enumerate(include):
            if _agrees(row, entry, original):
                row.update(entry)
                used[i] = True
    rows = [row for row in rows if not any(_contains(row, e) for e in parts["exclude"])]
    return rows + [dict(entry) for entry, hit in zip(include, used) if not hit]


def _normalised(body):
    """The specs of a valid body as ``{'matrix': ..., parts...}`` mappings (the module's own reading)."""
    expander = matrix._Expander(load_params(body))
    return [spec for _, spec in expander.specs(load_params(body).body)]


def reference(body):
    unique = {}
    for spec in _normalised(body):
        for row in _reference_spec(spec):
            unique.setdefault(canonical_json(row), row)
    return list(unique.values())


# --------------------------------------------------------------------------


def _expand(body, **kw):
    """Rows, or the ParamsError message (checked to be one line naming the source)."""
    try:
        rows = expand_matrix(body, grid_limit=kw.pop("grid_limit", 0), **kw)
    except ParamsError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith("params: "), message
        return message
    return rows


@SETTINGS
@with_examples
@given(bodies)
def test_rows_match_the_reference_and_are_unique(body):
    result = _expand(body)
    expected = reference(body)
    if isinstance(result, str):
        assert not expected and result.startswith("params: the grid is empty"), result
        return
    assert result == expected
    assert all(type(row) is dict and all(type(k) is str for k in row) for row in result)
    assert len({canonical_json(row) for row in result}) == len(result)


@SETTINGS
@given(bodies, st.integers(1, 6))
@example(EXAMPLES[2], 1)
@example(EXAMPLES[3], 2)
@example(EXAMPLES[4], 3)
@example(EXAMPLES[6], 2)
def test_max_configs_is_a_prefix_and_counts_bound_the_rows(body, n):
    full = _expand(body)
    if isinstance(full, str):
        return
    assert _expand(body, max_configs=n) == full[:n]
    size = grid_size(load_params(body))
    assert size.rows == len(full) if size.exact else size.rows >= len(full)
    with mock.patch.object(matrix_expander, "_COUNT_STATES", 2), mock.patch.object(matrix_expander, "_COUNT_WORK", 3):
        tight = grid_size(load_params(body))
    assert tight.rows == len(full) if tight.exact else tight.rows >= len(full)
    # grid_limit refuses exactly what is counted above it, with the count in the message.
    if size.exact:
        assert _expand(body, grid_limit=len(full)) == full
    if len(full) > 1:
        message = _expand(body, grid_limit=len(full) - 1)
        assert isinstance(message, str) and f"{size.rows:,} row" in message
        assert ("up to " in message) != size.exact
        assert _expand(body, grid_limit=len(full) - 1, max_configs=len(full) - 1) == full[:-1]


@SETTINGS
@given(st.dictionaries(keys, values, min_size=1, max_size=4))
def test_plain_matrix_row_count_is_the_product_of_distinct_axis_values(mat):
    result = _expand({"matrix": mat})
    distinct = [len({canonical_json(v) for v in (value if isinstance(value, list) else [value])})
                for value in mat.values()]
    if isinstance(result, str):
        assert 0 in distinct and ("is an empty list" in result or "are empty lists" in result)
        return
    assert len(result) == math.prod(distinct)


@SETTINGS
@given(specs())
def test_exclude_and_include_invariants(spec):
    result = _expand(spec)
    if isinstance(result, str):
        return
    (norm,) = _normalised(spec)
    mat = dict(norm.get("matrix", {}))
    include = mat.pop("include", norm.get("include", []))
    exclude = mat.pop("exclude", norm.get("exclude", []))
    include_rows = {canonical_json(e) for e in include}
    for row in result:
        if any(_contains(row, e) for e in exclude):
            assert canonical_json(row) in include_rows, (row, exclude)
    if exclude:
        return
    rows = {canonical_json(row) for row in result}
    for i, entry in enumerate(include):
        rewritten = any(k in later and k not in mat and not _same(later[k], v)
                        for later in include[i + 1:] for k, v in entry.items())
        if rewritten:
            continue
        assert canonical_json(entry) in rows or any(_contains(row, entry) for row in result), entry


@SETTINGS
@given(st.one_of(junk, st.lists(junk, max_size=3), st.dictionaries(junk_keys, junk, max_size=4)))
def test_junk_raises_only_params_errors(body):
    try:
        rows = expand_matrix(body)
        size = grid_size(load_params(body))
    except ParamsError as exc:
        assert "\n" not in str(exc)
        return
    except TrackdagError as exc:  # pragma: no cover - would be a bug: not a ParamsError
        raise AssertionError(f"{type(exc).__name__}: {exc}") from None
    assert all(isinstance(row, dict) for row in rows)
    assert size.rows >= len(rows)
