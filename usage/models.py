"""The request log, rollups and per-key limits arrive with the usage-metering issue."""
