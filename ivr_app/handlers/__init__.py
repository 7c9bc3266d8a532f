"""Call flows: one module per flow, each with one entry point ``handle(call, ctx)``."""
