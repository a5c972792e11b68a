#!/usr/bin/env bash
# The seed example with trackdag (on Ray, the default backend): 2 source files
# x 4 values of param1 = 8 rows,
# 8 predict jobs and 8 evaluate jobs. Run it from anywhere; it works in its
# own folder so the module is found without PYTHONPATH.
set -euo pipefail
cd "$(dirname "$0")"
EVAL_DPATH=$PWD/pipeline_output
trackdag run \
    --params="
        pipeline: 'example_user_module.pipelines.my_demo_pipeline()'
        matrix:
            stage1_predict.src_fpath:
                - README.rst
                - run_pipeline.sh
            stage1_predict.param1:
                - 123
                - 456
                - 32
                - 33
            stage1_evaluate.workers: 4
    " \
    --root="${EVAL_DPATH}" \
    --workers=2 --skip-existing

# The seed's aggregate report: Varied Basis, Constant Params, Varied Parameter
# LUT and the Top 8 / 8 table, ranked by accuracy (maximize) then
# hamming_distance (minimize), best first.
trackdag report --root="${EVAL_DPATH}" --node=stage1_evaluate --top-k=8

# The same report as one self-contained HTML page (tables, charts, run summary,
# failures) that opens offline in any browser.
REPORT_HTML=$(trackdag report --root="${EVAL_DPATH}" --html="${EVAL_DPATH}/report.html")
echo "HTML report: ${REPORT_HTML}"
