"""sfctl command groups: thin wrappers that parse options, call a library function, print."""
