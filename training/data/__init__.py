"""Beats in: reading labelled beat files (and fetching public copies), splitting the rows, and the
shifted beats of the shift-tolerance augmentation."""
