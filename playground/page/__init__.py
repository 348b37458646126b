"""The Streamlit page, one module per part; ``app.py`` is only the frame (the
page's settings, the live check of the open text, the sidebar and the tabs):

- ``state``: the shared state, typed (the open text, its history and source,
  the data folder, the running jobs, the sidebar's message), and the folders
- ``widgets``: what more than one tab draws (guarded panels, export buttons, charts)
- ``sidebar``: open, upload, undo and redo, download, save
- ``edit``: the Edit tab: the YAML text, the shape table, the layer editor, the diagram
- ``train``: the Train tab: the Data panel, the training form, the running job, this session's runs
- ``sweep``: the Sweep tab: the fields to vary, the trials, the best values
- ``predict``: the Predict tab: a drawn digit, the test images, the confusion matrix
- ``runs``: the Runs tab: every run folder, compared; a run's spec opened

Each part declares its own session-state keys (a frozen ``Keys`` at the top
of its module) and reaches the shared ones only through ``state.shared``.
The tabs and the sidebar never import each other (pyproject.toml's
import-linter contracts); the Streamlit-free logic is ``playground.app``'s.
"""
