"""The plan as data and rules, with no git: IDs, states, documents, tasks and epics, config,
the dependency graph, the trailer grammar, errors. Imports only the standard library and PyYAML.
"""
