"""git flow-task: a git-native task orchestrator. The repository is the database."""

__version__ = "0.1.0"
