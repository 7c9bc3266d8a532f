"""The only package that knows the Event Socket wire.

Framing, parsing, the Call object, the control connection and the quoting gate.
"""
