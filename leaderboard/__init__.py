"""Leaderboard: validated submissions of harness results, stored and shown."""
