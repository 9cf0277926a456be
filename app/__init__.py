"""The ECG anomaly-detection service: scores heartbeats against a trained autoencoder."""
