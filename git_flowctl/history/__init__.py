"""The log as the database: replay of `git log` and its cache, `log`, `stats` and `recover`.
Imports model/ and repo/.
"""
