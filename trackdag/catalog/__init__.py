"""The DuckDB catalog: SQLModel tables, lock-aware connections, Arrow bulk writes."""
from .connection import connect
from .store import Catalog

__all__ = ["Catalog", "connect"]
