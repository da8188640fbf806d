"""What to do next: the deals that decide the period, rep and pipeline insights, grounded AI briefs (issue 17)."""
