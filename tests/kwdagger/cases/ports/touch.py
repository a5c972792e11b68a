"""Write every output named on the command line (a path in a ``*_id_*`` folder) with the arguments."""
import sys
from pathlib import Path

args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
for key, value in args.items():
    path = Path(value)
    if "_id_" in path.parent.name and not path.exists() and path.suffix == ".txt" and "_gather" not in path.parts:
        path.write_text(" ".join(sys.argv[1:]) + "\n")
