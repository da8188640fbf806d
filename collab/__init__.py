"""Working together on deals: comments and @mentions, notifications, tasks and the rep's day (issue 18)."""
