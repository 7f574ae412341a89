"""Value safety: nothing a user passes may raise, bloat a span or leak a secret.

clean (bounding attribute values, names, exception text), secrets (scrubbing options,
patterns and the compiled rules), literals (query literals known to be secret) and errors
(the one outcome classifier: ok / error / cancelled, and `error.type`).
"""
