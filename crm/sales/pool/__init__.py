"""The public pool: the expiry rule (S-14), nightly reclaim (S-15), pool page, grab and assignment (S-16, S-17)."""
