"""The RepairGPTInstance: its models, its registry and its reconciliation."""
