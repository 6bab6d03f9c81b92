"""Sales views (filled in by the part that owns this module)."""
