"""`make bench`: the real app under stepped concurrent streams (see README.md)."""
