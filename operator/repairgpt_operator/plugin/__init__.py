"""`kubectl repairgpt`: day-2 operations on RepairGPT instances from the command line.

Each verb writes only what a user could write by hand (a patch of the spec, an annotation, a
RepairGPTRestore), then optionally waits and reports; `status` reads one screen's worth.
"""
