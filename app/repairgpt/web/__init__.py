"""The chat page for end users: served at `/`, its assets under `/assets/`."""
