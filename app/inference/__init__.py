"""The model: its directory format (the contract with `training/`), loading, scoring, reloading."""
