"""Benchmarks of tiny-mp-cache against the other ways to share a cache between
Python processes on one machine (issue 5).

Run from the repository root:

    python -m bench            # the full run (minutes)
    python -m bench --quick    # a smoke run (well under 2 minutes), what CI runs

It installs what it is missing (pip packages; Debian packages when root),
builds the Go library and the standalone server from go/, starts every server
on loopback, runs each scenario, prints a table with ratios and PASS/MISS per
target, and writes results.json and results.png (default: bench/results/).

Layout: systems/ has one adapter module per system (a small common interface:
set/get/pop/mget/mset/close, plus keys/push/bpop where a system has them);
scenarios/ has one module per measurement; targets.py turns results into
PASS/MISS lines; report.py and plot.py print and draw them.
"""
