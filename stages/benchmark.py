"""Benchmark stage: ``posenet benchmark --out reports`` (see ``--help``): latency per backend ->
reports/benchmark.json, reports/speed.json (the DVC metric) and reports/figures/benchmark.png."""

from posenet.commands.benchmark import benchmark as main

if __name__ == "__main__":
    main()
