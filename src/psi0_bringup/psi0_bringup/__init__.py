"""psi0 bringup: profiles, the profile runner behind `psi0 launch`, and the psi0 CLI."""
