"""Jobs: what the CLI runs that is more than one call (the checkpoint x task grid, the nightly job, the demo)."""
