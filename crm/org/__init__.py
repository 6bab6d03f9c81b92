"""Organisation reference data: schools, courses, classes, departments."""
