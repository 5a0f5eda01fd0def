"""The recipients' preferences page (public, by signed link) and the office queue of their requests."""
