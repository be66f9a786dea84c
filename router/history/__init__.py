"""The delivery attempt history: every outcome of every adapter recorded off the hot path,
written in batches to the configuration store's database, and pruned by age and size."""

from router.history.recorder import Recorder, Sink

__all__ = ["Recorder", "Sink"]
