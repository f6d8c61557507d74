"""Local test doubles for every network's HTTP API, on 127.0.0.1 only."""
