"""`python -m bench [NAME ...] [--only NAME] [--size FIELD=VALUE]`: run every measurement (or
those named), print the table, write the JSON. `--list` names the measurements."""

from bench.harness import main

if __name__ == "__main__":
    raise SystemExit(main())
