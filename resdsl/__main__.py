from resdsl.cli import run

run()
