"""Writing the model directory `app/` serves (`app/inference/artifact.py` is the contract),
atomically."""
