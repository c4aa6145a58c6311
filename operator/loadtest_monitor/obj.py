"""The shape every module shares for a Kubernetes object (or any JSON mapping) as read or rendered."""

from __future__ import annotations

from typing import Any

#: A Kubernetes object, or a part of one, as JSON: what the API server answers and the renderers build.
Obj = dict[str, Any]
