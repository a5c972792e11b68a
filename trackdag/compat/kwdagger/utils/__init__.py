"""``kwdagger.utils``: the helpers pipelines use (``util_dotdict``)."""
from . import util_dotdict

__all__ = ["util_dotdict"]
