"""pytest plugin (``-p ivr_app.testing.gevent_patch``): monkey-patch gevent before any test
module imports psycopg or socket users, exactly as the ``ivr-app`` entry point does."""

from gevent import monkey

monkey.patch_all()
