"""Documents area: list, PDF preview, where and when each was sent, FatturaPA upload, spool status."""
