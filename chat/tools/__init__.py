"""Tools the model may use: hosted ones (run by the model server) and our own functions."""
