"""Helpers of ``benchmarks/stripe_sync.py`` (the Fusion → Stripe stream benchmarks).

* :mod:`.standins` — the Fusion and Stripe stand-ins in a process of their own, the benchmark's
  handle on their admin API, and the generated Fusion customers and invoices;
* :mod:`.http_calls` — a counter of the connector's HTTP calls by system and route (method + path
  template), installed in the process that runs the connector;
* :mod:`.connector` — what runs in the connector's processes: the streams run like a task runs
  them (``build_stream`` + ``SyncEngine``, a temporary SQLite ledger), one function per phase.
"""
