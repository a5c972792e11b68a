"""The demo's user module: a two-node pipeline, as in KWDagger's example."""
