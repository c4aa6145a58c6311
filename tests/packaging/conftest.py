"""Fixtures shared by the packaging tests: a real local OCI registry and a private podman store."""

from tests.packaging.registry_support import engine_env, registry, registry_binary

__all__ = ["engine_env", "registry", "registry_binary"]
