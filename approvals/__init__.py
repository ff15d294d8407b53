"""Approvals: escalations, reviewer verdicts, grants (plain library)."""
