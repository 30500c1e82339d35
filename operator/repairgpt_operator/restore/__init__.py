"""The RepairGPTRestore resource: its models, the plan of each step and the pass that drives it."""
