"""redial: call back customers whose queue call dropped, agent first, off the agent's metrics."""

__version__ = "0.1.0"
