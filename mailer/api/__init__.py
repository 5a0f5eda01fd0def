"""HTTP API for the ERP (/api/v1) and the admin page of its tokens."""
