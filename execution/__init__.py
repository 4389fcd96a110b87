"""Code execution: the sandbox, its child program, the HumanEval task and pass@k."""
