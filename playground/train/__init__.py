"""Training: a checked spec in, a run folder and a stream of events out.

- ``engine``: ``Trainer`` and its events (``RunStarted``, ``StepDone``, ``EpochDone``, ``RunEnded``), the schedules
- ``data``: datasets as normalized tensors, batched augmentation; torchvision's read once into the cache
- ``cache``: the dataset cache: sealed folders of uint8 splits, made once, mapped by later runs
- ``imagefolder``: your own pictures: scanning, parallel decoding into the cache
- ``pretrained``: starting weights (torchvision's, a run's, a file's), read safely and matched onto a model
- ``finetune``: which parameters train and at what rate (freeze, trainable, unfreeze_epoch, lr_parts)
- ``devices``: device choice and its settings
- ``distributed``: torchrun: ranks, each process's share of a batch, the collectives
- ``inference``: a finished run loaded back, predicting, evaluating
- ``cli``, ``evaluate``: ``python -m playground.train`` and ``python -m playground.evaluate``
"""

# The engine's names, importable from here (``from playground.train import Trainer``) without
# importing torch until one is used: ``python -m playground.train`` checks the spec first.
# Not the engine's ``evaluate``: ``playground.train.evaluate`` is the command's module.
_ENGINE = ("Trainer", "RunStarted", "StepDone", "EpochDone", "RunEnded", "DataProgress", "TrainingError", "train",
           "epoch_order", "lr_at")
__all__ = list(_ENGINE)


def __getattr__(name: str):
    if name in _ENGINE:
        from playground.train import engine

        return getattr(engine, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
