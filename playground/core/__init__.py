"""The ground floor, imported by every other part and importing none of them:

- ``errors``: the error family (``PlaygroundError`` with its exit status and
  one-screen text, ``Setting`` for a control its fix names, ``report`` as every
  command prints it; ``SpecError`` and its located ``Problem``s), "did you mean"
- ``fileio``: atomic file writes (temporary file, then rename), onto regular files only
- ``texts``: the words and numbers the commands and the page share
- ``speed``: ``gc_paused``, for loads that allocate many long-lived objects
- ``signals``: ``stop_on_signals``: Ctrl-C, SIGTERM and SIGHUP stop a long command at its
  next step, a second one aborts
- ``processes``: whether a process of this machine is gone, and the machine's name as
  records write it (what a killed process left, told from what a live one holds)
- ``clock``: when this process started, and a command's start-up phases (``Phases``)
"""
