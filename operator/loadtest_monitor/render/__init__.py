"""Pure renderers: a parsed spec in, plain Kubernetes objects (dicts) or config text out."""
