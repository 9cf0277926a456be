"""Decoding what clients send (JSON, float32 rows, CSV) into beats; problems name where."""
