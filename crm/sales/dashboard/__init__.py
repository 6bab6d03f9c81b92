"""The sales dashboard and performance-based weights (S-7, S-20)."""
