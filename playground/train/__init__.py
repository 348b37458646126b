"""Training: a checked spec in, a run folder and a stream of events out.

- ``engine``: ``Trainer`` and its events (``RunStarted``, ``StepDone``, ``EpochDone``, ``RunEnded``), the schedules
- ``data``: datasets as normalized tensors, batched augmentation
- ``imagefolder``: your own pictures: scanning, parallel decoding, the uint8 cache
- ``devices``: device choice and its settings
- ``distributed``: torchrun: ranks, each process's share of a batch, the collectives
- ``inference``: a finished run loaded back, predicting, evaluating
- ``cli``, ``evaluate``: ``python -m playground.train`` and ``python -m playground.evaluate``
"""
