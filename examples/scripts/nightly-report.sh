#!/bin/sh
# Demo command task for examples/taskmill.yaml: prints a short report and exits 0.
# taskmill appends the task's args to the command line and captures what is printed;
# the exit status decides the run's outcome (0 = completed).
set -eu

report_dir="${REPORT_DIR:-/tmp}"

echo "nightly report"
echo "  generated:  $(date -u '+%Y-%m-%dT%H:%M:%SZ')"
echo "  host:       $(uname -n)"
echo "  report dir: ${report_dir}"
echo "  args:       ${*:-(none)}"
echo "status: ok"
