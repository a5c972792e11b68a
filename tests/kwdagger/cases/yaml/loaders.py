"""Result loaders named from pipeline.yaml by dotted path (``loaders.Score.load_result``)."""
import json

from kwdagger.utils import util_dotdict


class Score:
    """Not a node: its load_result is borrowed, and called as ``load_result(node, node_dpath)``.

    It returns a hand-made flat mapping (KWDagger's aggregate wants it as a DotDict).
    """

    def load_result(self, node_dpath):
        data = json.loads((node_dpath / self.out_paths[self.primary_out_key]).read_text())
        return util_dotdict.DotDict({f"metrics.{self.name}.{k}": v for k, v in data.items()})
