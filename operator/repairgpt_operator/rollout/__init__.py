"""API rollouts: image health and rollback, backups before an upgrade, restarts on request."""
