"""One benchmark script per question; `common` holds what they share. Results go to `benchmarks/results/`."""
