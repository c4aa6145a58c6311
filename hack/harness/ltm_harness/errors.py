"""The harness's one error type."""


class ClusterError(RuntimeError):
    """The control plane could not be found, started or reached."""
