"""Static roles: one long-lived key per role, replaced on a schedule with an overlap."""
