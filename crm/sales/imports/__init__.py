"""Excel bulk import of leads (S-9): template, upload checks, rows, the background job, pages."""
