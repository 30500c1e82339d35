"""Chat history retention: the outcome of the retention Jobs in the status."""
