"""The BentoML service: churn scores with reasons, and a customer view for relationship managers.

Modules, in the order a request meets them: ``config`` (serving settings and risk bands),
``scoring`` (one online read through ``features.online``, then encode, predict, TreeSHAP
contributions, calibrate), ``reasons`` (contributions -> sentences from the catalogue
``reasons.toml``), ``customer`` (the relationship manager's view), ``schemas`` (request and
response models), ``errors`` (the HTTP errors), ``service`` (the BentoML service that wires them
together; an unreachable online store is a 503).

Next best action: ``actions`` (the versioned action catalogue ``actions.yaml``, validated at
load), ``decide`` (the pure core: candidates, rule filters with a trace, expected value,
arbitration), ``nba`` (the models' scores for ``decide``) and ``decision_log`` (the append-only
log of every decision and its feedback). ``process`` runs the service as a child process.

Nothing is loaded at import time; ``serving.service.ChurnService`` reads ``Settings.load()`` once
when BentoML creates it.
"""
