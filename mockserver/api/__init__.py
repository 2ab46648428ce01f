"""Wire layer: one Flask blueprint per emulated service plus the control plane and the dashboard."""
