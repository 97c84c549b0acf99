"""A game file compiled and run: the typed game spec, compilation into a processor graph, per-stream state and the per-frame results."""
