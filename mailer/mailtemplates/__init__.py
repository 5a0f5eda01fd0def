"""E-mail templates area: editor with live preview, versions, per-type sending settings, signatures."""
