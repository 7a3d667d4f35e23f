"""The runtime: an OCI bundle becomes a running, monitored, cleanly removed container."""
