"""Revision files, applied in order by `repairgpt db migrate`."""
