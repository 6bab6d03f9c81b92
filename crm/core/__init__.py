"""Cross-cutting helpers: clock, access control, audit log, errors, lists."""
