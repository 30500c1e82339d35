"""Failover of the API to the replica database: the decision, the probe and the prober."""
