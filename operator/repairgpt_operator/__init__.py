"""RepairGPT operator: runs RepairGPT on Kubernetes."""

__version__ = "0.1.0"
