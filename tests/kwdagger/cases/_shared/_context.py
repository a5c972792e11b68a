"""A process-context record shaped like kwutil.ProcessContext's ``stop()`` (kwutil is not needed)."""
import getpass
import os
import platform
import socket
import sys
import time
import uuid


def process_record(name, config):
    now = time.strftime("%Y-%m-%dT%H%M%S+0")
    return {"type": "process", "properties": {
        "name": name, "args": sys.argv, "config": config, "start_timestamp": now, "stop_timestamp": now,
        "duration": "0:00:00", "uuid": str(uuid.uuid4()), "extra": {},
        "machine": {"host": socket.gethostname(), "user": getpass.getuser(), "cwd": os.getcwd(),
                    "os_name": platform.system(), "py_version": sys.version.split()[0], "cpu_brand": None}}}
