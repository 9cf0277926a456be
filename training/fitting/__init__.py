"""Fitting: the autoencoder families, the training protocol (candidates, trimming, early
stopping), threshold rules, and a baseline fitted on one person's recording."""
