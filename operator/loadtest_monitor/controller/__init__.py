"""The running operator: kopf handlers, the store of watched objects, the work queue, reconcile, apply, status."""
