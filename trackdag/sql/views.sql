-- trackdag catalog views: the stable names users query.
--
-- Installed into the catalog by the writer (the run's driver) each time it
-- records results, and re-created as TEMP views by a reader that finds them
-- missing or out of date, so `trackdag sql`, `trackdag report` and
-- `trackdag.open_catalog()` always see them.  Each view starts with a
-- comment line `-- <name>: <the question it answers>`; `trackdag schema`
-- prints those lines with the columns.
--
-- Two derived tables feed them (owned by trackdag/views.py, rebuilt from
-- jobs/params/edges whenever they are missing):
--   param_values (job_id, key, node, name, kind, source, ord, value, value_num, value_text, value_bool)
--       the effective parameter set of each job: algo and perf params of the
--       job and every ancestor job (defaults included), plus the inputs the
--       matrix gave, as written there ('README.rst', not the absolute path).
--   param_sets (job_id, param_hashid, param_set)
--       param_hashid = trackdag.ids.letter_id(param_set): 12 letters over the
--       canonical JSON of the non-perf part of the effective parameter set.
--
-- Besides these, one wide view per node is generated from the keys found in
-- the data (DuckDB cannot PIVOT on data-driven keys inside a view):
--   results_<node>: one row per job of <node> with job_id, short_id,
--       param_hashid, a "params.<node>.<key>" column per effective param
--       (the matrix's keys in its order, then defaults, ancestors first), a
--       "metrics.<node>.<name>" column per metric (and
--       one per other result key: resources., machine., context.,
--       resolved_params.), then status, result_status, result_error, error,
--       attempts, started, ended, duration_s, host, folder.
--   It is regenerated whenever a new key (or a new value type) appears.

-- job_state: What state is each job in, how long did its last attempt take, where did it run, and is its result usable?
CREATE OR REPLACE VIEW job_state AS
SELECT
    j.job_id,
    j.short_id,
    j.node,
    s.param_hashid,
    j.status,
    j.result_status,
    j.result_error,
    j.error,
    j.attempts,
    j.started,
    j.ended,
    date_diff('millisecond', j.started, j.ended) / 1000.0 AS duration_s,
    a.host,
    a.exit_code,
    a.signal,
    a.peak_rss_kb,
    j.first_run,
    j.last_run,
    j.folder
FROM jobs j
LEFT JOIN param_sets s ON s.job_id = j.job_id
LEFT JOIN attempts a ON a.job_id = j.job_id AND a.attempt = j.attempts;

-- params_long: Which value did each effective parameter of a job (its own and its ancestors', defaults included) have?
CREATE OR REPLACE VIEW params_long AS
SELECT
    v.job_id,
    j.node AS job_node,
    s.param_hashid,
    'params.' || v.key AS "column",
    v.key,
    v.node,
    v.name,
    v.kind,
    v.source,
    v.value,
    v.value_num,
    v.value_text,
    v.value_bool
FROM param_values v
JOIN jobs j ON j.job_id = v.job_id
LEFT JOIN param_sets s ON s.job_id = v.job_id;

-- metrics: Which metric values did each done job report (one row per job and metric)?
CREATE OR REPLACE VIEW metrics AS
SELECT
    r.job_id,
    j.node,
    s.param_hashid,
    r.key,
    CASE WHEN starts_with(r.key, 'metrics.' || j.node || '.')
         THEN substr(r.key, length(j.node) + 10)
         ELSE substr(r.key, 9) END AS metric,
    r.value_num AS value,
    r.value_text,
    j.status,
    j.result_status
FROM results r
JOIN jobs j ON j.job_id = r.job_id
LEFT JOIN param_sets s ON s.job_id = r.job_id
WHERE starts_with(r.key, 'metrics.');

-- lineage: Which jobs does each job depend on, directly or not (the job itself included at depth 0)?
-- The walk's rows are distinct within each step (all of a step's rows have its depth, so this is
-- UNION's deduplication, without one hash table over every row: a gather's many paths to one
-- ancestor stay one row per depth); each pair keeps its shortest depth before the two joins,
-- which then see one row per pair (about half the time of UNION with the joins first, at
-- 1,000,000 jobs; the edges form a DAG, so the walk ends).
CREATE OR REPLACE VIEW lineage AS
WITH RECURSIVE walk(job_id, ancestor_id, depth) AS (
    SELECT job_id, job_id, 0 FROM jobs
    UNION ALL
    SELECT DISTINCT w.job_id, e.parent_id, w.depth + 1
    FROM walk w
    JOIN edges e ON e.child_id = w.ancestor_id
),
best AS (
    SELECT job_id, ancestor_id, min(depth) AS depth FROM walk GROUP BY ALL
)
SELECT
    b.job_id,
    j.node,
    b.ancestor_id,
    a.node AS ancestor_node,
    a.short_id AS ancestor_short_id,
    b.depth
FROM best b
JOIN jobs j ON j.job_id = b.job_id
JOIN jobs a ON a.job_id = b.ancestor_id;
