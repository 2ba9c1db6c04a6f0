"""alerts component."""
