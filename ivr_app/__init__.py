"""ivr-app: IVR, presence / find-me-follow-me and call recording for FreeSWITCH.

Importing this package must not import ``socket`` or anything that does: the console
entry point (:mod:`ivr_app.entry`) monkey-patches gevent first.
"""

__version__ = "0.1.0"
