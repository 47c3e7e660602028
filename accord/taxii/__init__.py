"""The TAXII 2.1 server: discovery, one API root, collections cut from the policy, status resources.

Mounted in the same FastAPI app as the JSON API (`accord.web.api.create_asgi`); every read goes
through `Accord.policy`, so a TAXII client sees exactly what the JSON API would show the same viewer.
"""
