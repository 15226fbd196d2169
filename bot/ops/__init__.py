"""Operations: what an operator sees of the running bot. Each module is imported by name:

logs     structured logs (JSON or text), one line per request, ids hashed
metrics  Prometheus metrics at /metrics, the outbox read at scrape time
health   /readyz, credential checks at start-up, and serving until signalled
"""

__all__ = ["health", "logs", "metrics"]
