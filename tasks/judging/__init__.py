"""Tasks whose requests are judge prompts and whose scoring parses verdicts."""
