"""Kubernetes: deploy, wait, verify and inspect Smartflow releases."""
