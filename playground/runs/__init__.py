"""Run folders: what a run writes, and everything that reads them back.

- ``folders``: a run folder's files (spec.yaml, metrics.jsonl, checkpoint.pt, run.json), written atomically;
  ``RunInfo``, run.json's layout, which training writes and every reader reads
- ``listing``: every run folder as one row (damaged ones too); the differences between runs' specs
- ``plots``: runs' curves as a chart file (matplotlib, optional)
- ``cli``, ``compare``: ``python -m playground.runs`` and ``python -m playground.compare``

Training writes through ``folders``; nothing here imports training.
"""
