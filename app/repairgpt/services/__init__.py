"""Domain services of the API: retrieval, answer engines, cache and storage."""
