"""Answers for people and agents: ready/next, JSON shapes, board, graphs, primer, doctor,
export and importers. Imports every layer below cli/.
"""
