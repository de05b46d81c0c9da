"""What a command changes: transitions (ops) and the plan's shape (structure), each a builder
of a Change for the writer. Imports model/, repo/ and history/'s grammar.
"""
