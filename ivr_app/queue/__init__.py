"""The hold queue (issue #8): ordering, announcements, agents and figures."""
