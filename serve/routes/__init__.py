"""Route handlers, grouped by audience."""
