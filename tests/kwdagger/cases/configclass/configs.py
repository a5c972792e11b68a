"""The programs' schemas as config classes: a kwconf.Config and a scriptconfig.DataConfig.

The field tags say which KWDagger group each field is in (in_path, out_path,
algo_param, perf_param, none = algo); the pipeline reads them with
``params = CountCLI``.  The programs themselves are plain argparse.
"""
import kwconf as kw
import scriptconfig as scfg


class CountCLI(kw.Config):
    src_fpath = kw.Value(None, help='input text', tags=['in_path'])
    dst_fpath = kw.Value('counts.json', help='the counts', tags=['out_path', 'primary'])
    dst_dpath = kw.Value('.', help='the job folder', tags=['out_path'])
    log_fpath = kw.Value(None, help='an out_path without a default: left out', tags=['out_path'])
    minlen = kw.Value(1, help='shortest token counted', tags=['algo_param'])
    lower = kw.Value(True, help='lowercase tokens first')      # untagged: an algo param
    plain_default = 5                                           # a bare attribute: an algo param
    workers = kw.Value(0, help='threads', tags=['perf_param'])


class CountScfgCLI(scfg.DataConfig):
    src_fpath = scfg.Value(None, tags=['in_path'])
    dst_fpath = scfg.Value('counts.json', tags=['out_path', 'primary'])
    minlen = scfg.Value(1, tags=['algo'])
    lower = scfg.Value(True)
    workers = scfg.Value(0, tags=['perf'])
