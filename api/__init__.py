"""The credit API: a small, read-mostly HTTP service over the published marts (``credit-dw api``).

- ``api.app``: the FastAPI application (credit status, customer lookup, alerts, portfolio summary);
- ``api.published``: the last publication's exposures and customer master, held in memory per process;
- ``api.tokens``: API tokens per client, stored as keyed hashes, with scopes;
- ``api.webhooks``: the nightly POST of new critical alerts to configured URLs (signed, retried,
  dead-lettered): ``deliver_new_alerts(as_of_date)``;
- ``api.db``: the ``api`` schema, and the connection pool that works as the ``api`` database role.
"""
