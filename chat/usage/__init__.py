"""Usage: the append-only ledger and its costs, prices, reports and budgets (one module each)."""
