"""Tools the model may use: hosted ones (run by the model server, hosted.py) and our own
functions (a registry in registry.py, a round's calls answered in calls.py, the built-ins
clock, calculator and search)."""
