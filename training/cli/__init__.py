"""The command lines: `ecg-train` (on a data file, or `--recording` for a baseline), `ecg-evaluate`,
and the options they share."""
