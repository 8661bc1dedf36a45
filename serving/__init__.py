"""The BentoML service: churn scores with reasons, and a customer view for relationship managers.

Modules, in the order a request meets them: ``config`` (serving settings and risk bands),
``scoring`` (one online read through ``features.online``, then encode, predict, TreeSHAP
contributions, calibrate), ``reasons`` (contributions -> sentences from the catalogue
``reasons.toml``), ``customer`` (the relationship manager's view), ``schemas`` (request and
response models), ``errors`` (the HTTP errors), ``service`` (the BentoML service that wires them
together; an unreachable online store is a 503).

Next best action (its pure core, not yet served): ``actions`` (the versioned action catalogue
``actions.yaml``, validated at load) and ``decide`` (candidates, rule filters with a trace,
expected value, arbitration).

Nothing is loaded at import time; ``serving.service.ChurnService`` reads ``Settings.load()`` once
when BentoML creates it.
"""
