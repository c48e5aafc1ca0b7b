"""The sync engine: one loop for every integration (see ``docs/engine.md``)."""
