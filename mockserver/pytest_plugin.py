"""pytest plugin shipped with hybridsoa (entry point ``pytest11``): an in-process HTTPS mock server and a
fresh tenant per test (foundation issue fills this in)."""
