"""``python -m trackdag`` is the same as the ``trackdag`` command."""
from .cli import entry

if __name__ == "__main__":
    entry()
