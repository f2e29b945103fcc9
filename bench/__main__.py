"""`python -m bench`: run every measurement, print the table, write the JSON."""

from bench.harness import main

if __name__ == "__main__":
    raise SystemExit(main())
