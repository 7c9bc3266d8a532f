"""Dialplan as code: the site YAML, rendered through templates, validated, deployed with
reloadxml checked and verified, rolled back on failure, every deploy recorded."""
