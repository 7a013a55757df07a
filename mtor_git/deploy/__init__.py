"""Deployment files shipped inside the package (systemd units, example config and env file, the
server-side post-receive hook) and their rendering for this installation: see `files`."""
