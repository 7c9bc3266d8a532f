"""Call recording: policy, start (consent first), attach on RECORD_STOP, spool, reconcile."""
