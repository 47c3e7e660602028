"""Routing abused infrastructure to those who can act on it: enrichment (who holds an address or a
domain), and later contact points, rules and delivery. See `enrich.Enricher`."""
