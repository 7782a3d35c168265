"""Digests and summaries: conversations in a window, candidates, packing, the model's notes, the text."""
