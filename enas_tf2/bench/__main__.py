"""`python -m enas_tf2.bench`: see `enas_tf2.bench.cli`."""

from enas_tf2.bench import cli

if __name__ == "__main__":
    cli.run_program()
