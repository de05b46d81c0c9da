"""Reaching git: discovery and identity, sources of files (work tree, index, commits), the
document cache, the Plan loader, and the transition writer. Imports model/.
"""
