"""Images: the content-addressed OCI store, references, archives and base images."""
