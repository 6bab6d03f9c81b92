"""An in-process SMTP server (aiosmtpd) for e-mail tests (filled in by the notifications work)."""
