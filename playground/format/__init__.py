"""The spec format: what a spec file may say, and reading it.

- ``yamlsource``: safe YAML with a line for every path
- ``datasets``: the datasets' facts (shapes, classes, statistics), the data root,
  an image folder's classes as its folders list them
- ``templates``: blocks (``blocks:`` and ``{type: use}``), their expansion, problems placed in them
- ``spec``: the pydantic models of every section; ``spec_model(registry)``
- ``loader``: ``read_spec`` (read and validate once, with located errors; overrides set on the parsed
  document before validation), ``validate``; the shape check is ``playground.check``'s
- ``paths``: the one path grammar (``layers.conv1.out_channels``) of sweeps, diffs and the page
- ``schema``: the JSON Schema of the format
- ``edits``: edits of a spec's text that keep everything else as written (the layer editor's, a
  sweep's best values, the fixes problems carry)

Imports only ``playground.core`` and ``playground.layers``; the check is above it.
"""
