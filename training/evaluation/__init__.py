"""Judging models: held-out metrics, the report and its plots, several splits, the leaderboard,
and a model judged on an annotated recording."""
