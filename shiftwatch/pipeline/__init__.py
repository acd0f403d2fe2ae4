"""The application layer without Prefect: ingest, cluster, positions, feeds, deliver."""
