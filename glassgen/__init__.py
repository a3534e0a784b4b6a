"""glassgen: equilibrium sampling and structure-to-dynamics prediction for Kob-Andersen glass formers."""

__version__ = "0.1.0"
