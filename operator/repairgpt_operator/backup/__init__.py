"""Database backups: scheduled and on-demand Jobs, their outcome in the status, verification."""
