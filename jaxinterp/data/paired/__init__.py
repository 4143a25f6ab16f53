"""Paired label-map/image datasets for label -> image translation (ASAPNet, SPADE).

`source` is the entry point (prepare, load_source, batches, to_batch, load_pair, label_nc); `builders` holds
the TFDS builders; `procedural` the embedded synthetic street scenes.
"""

from jaxinterp.data.paired.source import batches, label_nc, load_pair, load_source, prepare, to_batch

__all__ = ["batches", "label_nc", "load_pair", "load_source", "prepare", "to_batch"]
