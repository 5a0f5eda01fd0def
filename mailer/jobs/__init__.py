"""RQ job functions: thin, take ids, load rows, call a service."""
