"""Conversations the family and the companion remember: records (sans-I/O, bounded), summaries by
the same model, what the next conversation recalls, the family's views and digests, retention."""
