"""Bulk scoring of Parquet archives, partition by partition, on a Dask cluster (`ecg-bulk`)."""
