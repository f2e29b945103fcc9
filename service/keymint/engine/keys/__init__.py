"""Every key keymint holds on a sub-account, in one record: what owns it, its state, and the
20-key limit it counts against. Ownership changes are check-and-sets on that record."""
