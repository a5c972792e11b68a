"""``python -m trackdag`` is the same as the ``trackdag`` command."""
from .cli import main

if __name__ == "__main__":
    main()
