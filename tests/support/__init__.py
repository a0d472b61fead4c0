"""Test helpers shared across tests/ (importable as `support`: pyproject puts tests/ on the path)."""
