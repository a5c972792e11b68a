"""A tiny program for tests: every job of the test pipelines runs this.

Arguments arrive as --key=value (or --key v1 v2 for var-args).  It records
them in args.json (in the job folder, its cwd), appends one line to the file
named by $TRACKDAG_TEST_LEDGER (to count real executions), then writes every
output argument (keys starting with 'out') as a JSON file of the arguments.

Special params: --fail=True exits 3; --no_outputs=True exits 0 without
writing outputs; --sleep=S sleeps first; --flaky=PATH fails (exit 4) unless
PATH exists, creating it (so the second attempt passes); --kill_worker=True
SIGKILLs the process that runs the job (a Ray actor); --spawn=TOKEN
starts a child `sleep 300` named TOKEN and waits for it.
"""
import json
import os
import sys
import time

args = {}
key = None
for item in sys.argv[1:]:
    if item.startswith("--"):
        key, eq, value = item[2:].partition("=")
        args[key] = value if eq else []
    elif key is not None:
        args[key].append(item)
with open("args.json", "w") as fh:
    json.dump({"argv": sys.argv[1:], "args": args, "cuda": os.environ.get("CUDA_VISIBLE_DEVICES")}, fh)
ledger = os.environ.get("TRACKDAG_TEST_LEDGER")
if ledger:
    with open(ledger, "a") as fh:
        fh.write(os.getcwd() + "\n")
if "sleep" in args:
    time.sleep(float(args["sleep"]))
if args.get("flaky") and args["flaky"] != "False":
    if not os.path.exists(args["flaky"]):
        open(args["flaky"], "w").close()
        print("tool: flaky failure", file=sys.stderr)
        sys.exit(4)
if args.get("kill_worker") == "True":
    import signal
    worker = os.getppid()  # invoke.sh exec'd us: our parent is the worker ...
    with open(f"/proc/{worker}/comm") as fh:
        if fh.read().strip() == "bash":  # ... unless the command is shell text bash stays in front of
            with open(f"/proc/{worker}/stat") as stat:
                worker = int(stat.read().rsplit(")", 1)[1].split()[1])
    os.kill(worker, signal.SIGKILL)
if args.get("spawn") and args["spawn"] != "False":
    import subprocess
    subprocess.Popen(["bash", "-c", f"exec -a {args['spawn']} sleep 300"]).wait()
print("stdout of", os.path.basename(os.getcwd()))
if args.get("fail") == "True":
    print("tool: failing on purpose", file=sys.stderr)
    sys.exit(3)
if args.get("no_outputs") != "True":
    for k, v in args.items():
        if k.startswith("out"):
            with open(v, "w") as fh:
                json.dump(args, fh)
