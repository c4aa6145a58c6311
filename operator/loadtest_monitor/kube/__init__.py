"""Talking to the Kubernetes API: the client the CLI uses and the REST paths of every kind."""
