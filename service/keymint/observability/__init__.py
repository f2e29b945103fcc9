"""Logs, audit and metrics."""
