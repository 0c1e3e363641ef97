"""sfctl: renders, deploys, verifies, lints and load-tests Smartflow."""

__version__ = "0.1.0"
