"""Leads: entry and intake (S-8, S-10), the lead pages, follow-ups, privacy (S-11 … S-13)."""
