"""edge component."""
