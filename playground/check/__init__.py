"""The static check: every layer's shape, parameters and MACs by arithmetic,
before any weight exists, then the model built from what the check found.

- ``analysis``: ``analyze(spec, data_root)`` -> ``Summary`` (a tree of ``LayerRow``), or a located SpecError;
  ``load_checked`` reads, validates and checks in one pass (``load_spec``: the same, without the summary)
- ``report``: the summary as a text table and as diagrams
- ``builder``: spec (and its summary) -> ``torch.nn.Module``
- ``parts``: parts of a model by name: each row's module path, what ``train.freeze`` freezes (on the meta device)
- ``cli``: ``python -m playground.check``
"""
