"""The column-wise planner makes exactly the row-by-row planner's plan, or declines.

Generated pipelines (chains, parents' outputs, forwarded inputs, several
parents, defaults of every scalar kind, perf params) and rows (key orders
that split rows into groups, duplicate rows, rows differing only in perf
params, values that JSON tells apart but Python does not: 1, 1.0, True,
0.0, -0.0) are planned both ways and compared field by field, dict order
included.  Explicit cases check which pipelines the column-wise planner
answers for, and that it declines the rest.
"""
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import trackdag.plan as plan_mod
from trackdag.errors import TrackdagError
from trackdag.node import ProcessNode
from trackdag.pipeline import Pipeline
from trackdag.plan import plan

SCALARS = st.sampled_from([0, 1, 2, 1.0, 0.0, -0.0, 2.5, True, False, None, "x", "1", "a b", "é", "p%s",
                           "it's", 10 ** 17])
PATHS = st.sampled_from(["a.txt", "b.txt", "/abs/c.txt", "d/../e.txt", "s3://bucket/f", "~/g.txt"])


def _answered(monkeypatch_calls: list):
    real = plan_mod.plan_columns

    def recording(*args, **kwargs):
        found = real(*args, **kwargs)
        monkeypatch_calls.append(found is not None)
        return found

    return recording


def _both(pipeline_factory, rows, **kwargs):
    """(column-wise plan or error text, row-by-row plan or error text, whether the column planner answered)."""
    calls: list = []
    out = []
    saved = plan_mod.plan_columns
    plan_mod.plan_columns = _answered(calls)
    try:
        for columns in (True, False):
            plan_mod.COLUMNS = columns
            try:
                out.append(plan(pipeline_factory(), rows, "/r", cwd="/c", **kwargs))
            except TrackdagError as exc:
                out.append(f"{type(exc).__name__}: {exc}")
    finally:
        plan_mod.COLUMNS = True
        plan_mod.plan_columns = saved
    return out[0], out[1], bool(calls and calls[0])


def _same(a, b):
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
        return
    assert list(a.jobs) == list(b.jobs)
    for job_id, x in a.jobs.items():
        y = b.jobs[job_id]
        assert x == y
        for field in ("params", "inputs", "outputs", "requested", "resources"):
            # (repr: 1 == True == 1.0 and 0.0 == -0.0 in Python, not in a command or an id)
            assert repr(list(getattr(x, field).items())) == repr(list(getattr(y, field).items())), field
        assert x.command == y.command
        assert x.row == y.row and x.parents == y.parents
    assert a.row_jobs == b.row_jobs
    assert a.edges == b.edges
    assert a.notes == b.notes


@st.composite
def pipelines(draw):
    """A factory of a random pipeline (new nodes each call: connections live on the nodes) and its keys."""
    n_nodes = draw(st.integers(1, 4))
    specs = []
    for i in range(n_nodes):
        # names out of sorted order: ids sort keys, commands and dicts keep their own order
        algo = {k: draw(SCALARS) for k in draw(st.lists(st.sampled_from(["z", "b", "m_1"]), unique=True, max_size=2))}
        perf = {k: draw(SCALARS) for k in draw(st.lists(st.sampled_from(["wz", "wa"]), unique=True, max_size=1))}
        ins = {k: draw(st.one_of(st.none(), PATHS))
               for k in draw(st.lists(st.sampled_from(["src", "an_in", "z_in"]), unique=True, max_size=2))}
        outs = {f"o{k}": draw(st.sampled_from(["o.json", ".", "sub/o.txt", "./x/../y.txt"]))
                for k in range(draw(st.integers(1, 2)))}
        specs.append((f"n{i}", algo, perf, ins, outs))
    connections = []
    for i, (_, _, _, ins, _) in enumerate(specs):
        for port in ins:
            if i == 0 or not draw(st.booleans()):
                continue
            src = draw(st.integers(0, i - 1))
            kind = draw(st.sampled_from(["output", "output", "input"]))
            names = list(specs[src][4 if kind == "output" else 3])
            if not names:
                continue
            connections.append((kind, src, draw(st.sampled_from(names)), i, port))
            if draw(st.integers(0, 9)) == 0:  # now and then a second peer (the column planner declines)
                other = draw(st.integers(0, i - 1))
                if specs[other][4]:
                    connections.append(("output", other, list(specs[other][4])[0], i, port))

    def factory():
        nodes = []
        for name, algo, perf, ins, outs in specs:
            in_paths = {k: v for k, v in ins.items() if v is not None} | {k: None for k, v in ins.items() if v is None}
            nodes.append(ProcessNode(name=name, executable=f"run_{name} --flag", algo_params=dict(algo),
                                     perf_params=dict(perf), in_paths=in_paths, out_paths=dict(outs)))
        for kind, src, src_port, dst, dst_port in connections:
            ports = nodes[src].outputs if kind == "output" else nodes[src].inputs
            ports[src_port].connect(nodes[dst].inputs[dst_port])
        return Pipeline(nodes)

    connected = {(f"n{dst}", port) for _, _, _, dst, port in connections}
    keys = []
    for name, algo, perf, ins, _ in specs:
        keys += [(f"{name}.{k}", "param", False) for k in list(algo) + list(perf)]
        keys += [(f"{name}.{k}", "path", ins[k] is None) for k in ins if (name, k) not in connected]
    return factory, keys


@st.composite
def cases(draw):
    factory, keys = draw(pipelines())
    rows = []
    for _ in range(draw(st.integers(1, 8))):
        # inputs without a value elsewhere are in most rows (else most plans would be "no value" errors)
        chosen = [k for k in keys if k[2] and draw(st.integers(0, 19))]
        chosen += draw(st.lists(st.sampled_from([k for k in keys if k not in chosen]), unique=True)) \
            if len(chosen) < len(keys) else []
        chosen = draw(st.permutations(chosen))
        row = {k: draw(PATHS if kind == "path" else SCALARS) for k, kind, _ in chosen}
        rows.append(row)
        if draw(st.integers(0, 3)) == 0:
            rows.append(dict(reversed(list(row.items()))))  # the same row, its keys in another order
    return factory, rows


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_both_planners_make_the_same_plan(case):
    factory, rows = case
    columns, by_rows, _ = _both(factory, rows)
    _same(columns, by_rows)


def _chain(**kwargs):
    def factory():
        a = ProcessNode(name="a", executable="prog", algo_params={"x": 1}, perf_params={"w": 0},
                        in_paths={"src"}, out_paths={"o": "o.json"})
        b = ProcessNode(name="b", executable="prog", algo_params={"t": 0.5}, in_paths={"pred", "true"},
                        out_paths={"m": "m.json"}, **kwargs)
        a.outputs["o"].connect(b.inputs["pred"])
        a.inputs["src"].connect(b.inputs["true"])
        return Pipeline([a, b])
    return factory


def test_a_two_node_sweep_is_planned_column_wise():
    rows = [{"a.src": s, "a.x": x, "b.t": t} for s in ("s1", "s2") for x in range(3) for t in (0.1, 0.2)]
    rows += [{"b.t": 0.1, "a.x": 0, "a.src": "s1", "a.w": 4}]  # another group, one job again, a perf note
    columns, by_rows, answered = _both(_chain(), rows)
    assert answered
    _same(columns, by_rows)
    assert len(columns.jobs) == 6 + 12
    assert any("perf params w" in note for note in columns.notes)


@pytest.mark.parametrize("rows, why", [
    ([{"a.src": "s", "a.__enabled__": False}], "a node turned off in a row"),
    ([{"a.src": "s", "__slurm_options__": {"cpus": 2}}], "row-wide slurm options"),
    ([{"a.src": "s", "a.x": [1, 2]}], "a list value"),
    ([{"a.src": "s", "a.x": 10 ** 30}], "a huge int"),
    ([{"a.src": "s", "a.x": "y" * 40_000}], "a command that may be too long"),
    ([{"a.x": 1}], "an input without a value"),
])
def test_the_column_planner_declines_what_it_cannot_answer_exactly(rows, why):
    columns, by_rows, answered = _both(_chain(), rows)
    assert not answered, why
    _same(columns, by_rows)


def test_an_input_fed_by_two_peers_goes_row_by_row():
    def factory():
        a = ProcessNode(name="a", executable="prog", out_paths={"o": "o.json"})
        b = ProcessNode(name="b", executable="prog", out_paths={"o": "o.json"})
        c = ProcessNode(name="c", executable="prog", in_paths={"src"}, out_paths={"o": "o.json"})
        a.outputs["o"].connect(c.inputs["src"])
        b.outputs["o"].connect(c.inputs["src"])
        return Pipeline([a, b, c])

    columns, by_rows, answered = _both(factory, [{}])
    assert not answered
    _same(columns, by_rows)


def _python_calls(pipeline, rows):
    """(the plan, how many Python functions it called): counts, not timings."""
    import sys

    calls = [0]

    def count(frame, event, arg):
        if event == "call":
            calls[0] += 1

    sys.setprofile(count)
    try:
        found = plan(pipeline, rows, "/r", cwd="/c")
    finally:
        sys.setprofile(None)
    return found, calls[0]


def test_the_column_planner_calls_about_one_python_function_per_job():
    """Per job only its Job is made in Python; values, ids, lengths and dicts go a column at a time, in C.

    Counts, not timings: 2,000 jobs of 100 values x 10 files.  (Calls per
    distinct value, a JSON member each, are fine; so is the row-by-row
    planner's ~16 per job, for the plans it makes.)
    """
    rows = [{"a.src": f"s{s}", "a.x": x} for s in range(10) for x in range(100)]
    plan(_chain()(), rows[:2], "/r", cwd="/c")  # (once-made tables, such as short ids' digits, made here)
    columns, calls = _python_calls(_chain()(), rows)
    assert len(columns.jobs) == 2000
    assert calls / len(columns.jobs) <= 3, f"{calls / len(columns.jobs):.1f} Python calls per job"
    plan_mod.COLUMNS = False
    try:
        by_rows, row_calls = _python_calls(_chain()(), rows)
    finally:
        plan_mod.COLUMNS = True
    assert row_calls > 3 * calls  # (the count tells the two apart)


def test_a_big_plan_holds_no_dict_or_path_per_job_where_rows_differ():
    """Packed jobs (trackdag.job.Job): where each row's params or inputs differ, a job holds a tuple of the values
    (a parent's output as the parent's own short id string) and makes the dicts on access; rows that share
    values share one dict.  Counts of objects, not bytes: the memory target of a million configurations."""
    rows = [{"a.src": f"s{s % 3}", "a.x": x} for s in range(3) for x in range(200)]
    found = plan(_chain()(), rows, "/r", cwd="/c")
    a_jobs = [j for j in found.jobs.values() if j.node == "a"]
    b_jobs = [j for j in found.jobs.values() if j.node == "b"]
    assert len(a_jobs) == len(b_jobs) == 600
    # a's params differ per row: tuples; its inputs come from 3 files: 3 shared dicts
    assert all(type(j._params) is tuple for j in a_jobs)
    assert len({id(j._inputs) for j in a_jobs}) == 3 and all(type(j._inputs) is dict for j in a_jobs)
    # b's params are its defaults in every row: one dict; its inputs hold each parent's short id itself
    assert len({id(j._params) for j in b_jobs}) == 1
    parent = {j.job_id: j for j in a_jobs}
    for job in b_jobs:
        (held,) = [v for v in job._inputs if isinstance(v, str) and v == parent[job.parents[0]].short_id]
        assert held is parent[job.parents[0]].short_id
        assert job.inputs["pred"] == parent[job.parents[0]].outputs["o"]
        assert job.inputs is not job.inputs  # (a new dict each time: writing to one changes nothing)
    # the row mapping is no list of a million tuples either, and equals one
    assert type(found.row_jobs).__name__ == "RowJobs"
    pairs = list(found.row_jobs)
    assert len(found.row_jobs) == len(pairs) == 1200 and found.row_jobs == pairs
    assert found.row_jobs[5] == pairs[5] and found.row_jobs[-1] == pairs[-1] and found.row_jobs[2:4] == pairs[2:4]
    assert pairs[0][0] == pairs[1][0] == 0 and pairs[0][1] in parent and pairs[1][1] not in parent


def test_a_packed_job_copied_with_new_params_holds_them():
    rows = [{"a.src": "s", "a.x": x} for x in range(5)]
    job = next(j for j in plan(_chain()(), rows, "/r", cwd="/c").jobs.values() if j.node == "a")
    assert type(job._params) is tuple
    same = job.replace(resources={"cpus": 2})
    assert job.replace() == job and same.resources == {"cpus": 2} and same.params == job.params
    assert type(same._params) is tuple  # (still packed)
    assert same.replace(params={**job.params, "x": 99}).params["x"] == 99
    assert same.replace(inputs={"src": "/elsewhere"}).inputs == {"src": "/elsewhere"}
