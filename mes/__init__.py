"""mes: a command-line manufacturing execution system for medical-device plants."""

__version__ = "0.1.0"
