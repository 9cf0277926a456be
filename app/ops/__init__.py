"""Operations: metrics, request telemetry and log configuration."""
