"""Maintenance mode: the phase machine and the pass that moves an instance through it."""
