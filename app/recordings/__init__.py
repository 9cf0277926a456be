"""A continuous recording's path: signal -> R peaks -> beats cut as the model's were -> scores."""
