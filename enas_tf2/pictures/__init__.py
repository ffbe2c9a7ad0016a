"""Architecture pictures."""
