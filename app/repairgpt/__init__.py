"""RepairGPT: the repair assistant API."""

__version__ = "0.1.0"
