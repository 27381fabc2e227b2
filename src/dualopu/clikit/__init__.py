"""Shared CLI machinery: input checks, output targets and atomic folders, the one error path.

- :mod:`dualopu.clikit.checks`: every numeric flag's range, shapes, input sizes and output targets,
  by parameter name, applied to every command before it runs;
- :mod:`dualopu.clikit.outputs`: `check_file_target`, `check_dir_target` and `output_dir` (write a
  result folder into a temporary sibling, renamed on success); plain Python, usable by any layer;
- :mod:`dualopu.clikit.app`: `DualOpuGroup` (the typer group) and `one_line` (which exceptions are
  user errors and how they read).

See docs/cli.md for the rules a new command follows.
"""
