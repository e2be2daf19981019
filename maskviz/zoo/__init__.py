"""Published models by name: the catalogue (pure data) and the cache that downloads fill."""

from maskviz.zoo.catalogue import ModelEntry, entries, find_entry, format_size

__all__ = ["ModelEntry", "entries", "find_entry", "format_size"]
