# pyaoe: the two commands a user needs. Both set up everything themselves (run as root on Debian).
#   make demo   build a small SAN in network namespaces and show it working
#   make test   run the whole test suite against the real peers
PY := .venv/bin/python

.PHONY: setup demo test bench soak lint
setup:
	./scripts/setup.sh

demo: setup
	$(PY) -m pyaoe demo

test: setup
	$(PY) -m pytest -q tests

bench: setup
	$(PY) -m pyaoe bench

soak: setup
	$(PY) -m pyaoe soak

lint: setup
	.venv/bin/ruff check src tests
	.venv/bin/mypy
